export { loadConfig, toFileForm, settings, CONFIG_FILE_NAME, type LoadOptions, type SettingName } from './load.js'
export { schema, type Config, type ProxyConfig, type KuboConfig, type LogConfig, type ClusterConfig, type NetConfig, type ApiConfig, type PinsetConfig, type MetricsConfig, type AllocatorConfig, type TrackerConfig, type SectionName } from './schema.js'
export { initConfig, generateClusterSecret, type InitOptions, type InitResult } from './init.js'
