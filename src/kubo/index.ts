export type {
  KuboClient, KuboCallOptions, KuboIdentity, KuboPin, KuboPinCheck, KuboPinType, KuboRepoStat, PinAddOptions
} from './types.js'
export { HttpKuboClient, type HttpKuboClientInit } from './http-kubo-client.js'
export {
  isNotPinnedError, isPathNotPinnedError, isAlreadyPinnedRecursivelyError, isPinnedRecursivelyError,
  isUpdateFromNotPinnedError, isUpdateToAlreadyPinnedError
} from './error-predicates.js'
