// Loaded with --import before every test file.
import '../src/polyfills.js'
process.env.PINMESH_LOG_LEVEL ??= 'silent'
