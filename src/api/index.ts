export { AdminApi, type AdminApiInit, type AdminApiComponents } from './server.js'
export { toApiError, ApiError, type ApiErrorBody } from './errors.js'
export { pinRequestFromQuery } from './routes/pins.js'
export { AdminClient, AdminApiError, type AdminClientOptions } from './client.js'
