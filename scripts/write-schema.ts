/**
 * Writes schema/lockd.schema.json from the config spec (`npm run schema`). The file is committed
 * and shipped; test/unit/config-json-schema.test.ts fails when it differs from what this writes.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SCHEMA_FILE, renderJsonSchema } from '../src/config/json-schema.js';

const target = fileURLToPath(new URL(`../${SCHEMA_FILE}`, import.meta.url));
writeFileSync(target, renderJsonSchema());
console.log(`wrote ${SCHEMA_FILE}`);
