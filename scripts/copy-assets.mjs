// Copies what tsc does not: the Lua scripts, next to the compiled script loader.
import { cpSync } from 'node:fs';
cpSync('src/redis/scripts', 'dist/src/redis/scripts', { recursive: true });
