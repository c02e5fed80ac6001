'use strict';
// A real Knex 0.21 client in the middle of a migration, for test_migration_lock.py.
//
// Runs knex.migrate.latest() with the pinned knex and pg of scripts/knex on two of Bazooka's
// own migrations (the SQL files, under the names Knex records). The first opts out of
// transactions, so Knex runs the batch one migration at a time and commits its lock row
// (knex_migrations_lock.is_locked = 1) before the first migration, as the original does for
// such a batch. The second, inside its transaction, creates its table and then reads the table
// named by GATE_TABLE, which the test keeps locked: Knex stays in the middle of that migration,
// holding the lock row, until the test lets it go. It prints one JSON line when it finishes.
//
// Usage: node knex_migrating.js MIGRATIONS_DIR GATE_TABLE   (connection from DB_* variables)

const fs = require('fs');
const path = require('path');
const knexLib = require('knex');

const [dir, gate] = process.argv.slice(2);
const names = [
  '20220719024035_create_block_table',
  '20220719024039_create_subaccount_table',
];
const sql = (stem) => fs.readFileSync(path.join(dir, `${stem}.up.sql`), 'utf8');

const migrations = [
  {
    name: `${names[0]}.js`,
    module: { config: { transaction: false }, up: (knex) => knex.raw(sql(names[0])), down: () => {} },
  },
  {
    name: `${names[1]}.js`,
    module: {
      up: async (knex) => {
        await knex.raw(sql(names[1]));
        await knex.raw(`SELECT count(*) FROM "${gate}"`);
      },
      down: () => {},
    },
  },
];

const knex = knexLib({
  client: 'pg',
  connection: {
    host: process.env.DB_HOSTNAME,
    port: Number(process.env.DB_PORT),
    user: process.env.DB_USERNAME,
    password: process.env.DB_PASSWORD,
    database: process.env.DB_NAME,
  },
  pool: { min: 1, max: 2 },
});

knex.migrate
  .latest({
    migrationSource: {
      getMigrations: async () => migrations,
      getMigrationName: (m) => m.name,
      getMigration: (m) => m.module,
    },
  })
  .then(([batch, applied]) => {
    console.log(JSON.stringify({ ok: true, batch, applied }));
  })
  .catch((err) => {
    console.log(JSON.stringify({ ok: false, error: String(err && err.message) }));
    process.exitCode = 1;
  })
  .finally(() => knex.destroy());
