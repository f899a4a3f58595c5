export type { Rpc, RpcMethod, RpcPolicy } from './types.js'
export { Libp2pRpc, RPC_PROTOCOL, type Libp2pRpcComponents, type Libp2pRpcInit } from './libp2p-rpc.js'
