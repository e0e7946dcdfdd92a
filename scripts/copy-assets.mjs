// Copies what tsc does not: the Lua scripts, next to the compiled script loader. The target
// is emptied first, so a script renamed or removed in src does not linger in dist.
import { cpSync, rmSync } from 'node:fs';
rmSync('dist/src/redis/scripts', { recursive: true, force: true });
cpSync('src/redis/scripts', 'dist/src/redis/scripts', { recursive: true });
