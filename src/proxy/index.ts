export { KuboProxy, type KuboProxyInit, type KuboProxyComponents } from './server.js'
export { matchIntercept, API_PREFIX, type InterceptHandler, type InterceptTable, type InterceptContext } from './routes.js'
export { sendKuboError, sendKuboTextError, endWithStreamError, goJson, KUBO_COMMAND_HEADERS, KuboErrorCode } from './kubo-errors.js'
export { toKuboError } from './error-map.js'
