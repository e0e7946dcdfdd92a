// Copies what tsc does not: the Lua scripts, next to the compiled script loader, and the
// operator console's static files (SPEC §14). Each target is emptied first, so a file renamed
// or removed in src does not linger in dist.
import { cpSync, rmSync } from 'node:fs';
for (const dir of ['src/redis/scripts', 'src/admin/console']) {
  rmSync(`dist/${dir}`, { recursive: true, force: true });
  cpSync(dir, `dist/${dir}`, { recursive: true });
}
