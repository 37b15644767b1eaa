import { loadConfig } from '../config/config.ts';
import { migrate } from './migrate.ts';

const config = loadConfig();
const applied = await migrate(config.databaseUrl);
console.log(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'Database is up to date');
