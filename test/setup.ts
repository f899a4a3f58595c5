// Loaded with --import before every test file.
import '../src/polyfills.js'
import '../src/pnet-fix.js'
process.env.PINMESH_LOG_LEVEL ??= 'silent'
