#!/usr/bin/env node
// The `vigil` bin that npm links into node_modules/.bin. The program is
// compiled to dist/main.js (npm run build); this committed, executable file
// runs it, because tsc writes dist/main.js without the executable bit and a
// bin pointing there would fail with "Permission denied" after every clean
// build.
import '../dist/main.js';
