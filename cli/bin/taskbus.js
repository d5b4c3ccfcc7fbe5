#!/usr/bin/env node
// Checked-in entry point, so npm can link the binary before the TypeScript build has run.
import '../dist/main.js';
