import { main } from './main.js';
import { processIo } from './session.js';

// The entry point of the bundle (cli/build.mjs). The Node version check runs before this, in the banner.
process.exitCode = await main(process.argv.slice(2), processIo);
