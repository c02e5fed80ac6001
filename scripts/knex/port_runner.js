'use strict';
// Runs upstream Knex migrations with Knex itself, for scripts/port_migrations.py.
//
// One process serves one porting session. It reads one JSON request per line on stdin and
// answers each with one line on stdout that starts with REPLY_PREFIX (anything else a
// migration prints is sent to stderr). Requests:
//
//   {"op": "compile", "from": DIR, "to": DIR}
//       Transpiles every .ts file under DIR (migration_files/*.ts, helpers.ts, ...) to CommonJS
//       with the pinned TypeScript and the settings the indexer builds with (ES2020, CommonJS,
//       esModuleInterop), copies .js/.json files, and lists the migrations under the names
//       Knex records: the compiled file name, so X.ts -> X.js and X.ts.ts -> X.ts.js.
//   {"op": "open", "connection": {host, port, user, password, database}}
//   {"op": "run", "build": DIR, "migration": NAME, "direction": "up" | "down",
//    "completed": [NAME, ...]}
//       "up" is knex.migrate.latest(), "down" is knex.migrate.rollback(): what the original
//       Bazooka calls, and the only entry points of Knex 0.21.21 that honour
//       `config.transaction = false` (migrate.up() opens a transaction regardless).
//   {"op": "disconnect"}   (the session ends at the end of its input)
//
// Which migrations Knex sees: a custom migrationSource, not FS migrations with
// disableMigrationsListValidation. It lists every name already recorded in knex_migrations
// (placeholders that throw if Knex ever tried to run them) plus the one migration being
// ported. Knex's own check that every recorded migration exists ("The migration directory is
// corrupt") stays on, so a scratch database in an unexpected state is an error, not a
// surprise; `latest` then has exactly one pending migration, which it runs as a batch of its
// own, and `rollback` reverts exactly that batch.
//
// How statements are captured: by wrapping pg's Client.prototype.query, the one call through
// which Knex hands every statement to the driver. We see the text and the parameter values
// exactly as pg puts them on the wire (values go through pg's own prepareValue, as pg does),
// in the order PostgreSQL receives them, with the result (did rows come back? did it fail?).
// PostgreSQL's statement log would need server settings and a log file shared with every
// other session; the wrapper sees only this process's statements. Knex's bookkeeping
// (knex_migrations, knex_migrations_lock, its table checks, BEGIN/COMMIT of the migration's
// transaction) is left out by capturing only while the migration's own up/down function runs:
// Knex issues its bookkeeping before calling that function and after its promise settles.
// Statements a migration starts without awaiting them would escape the window; the replay
// through Bazooka then differs from Knex's schema and verification catches it.

const fs = require('fs');
const path = require('path');
const util = require('util');
const readline = require('readline');

const REPLY_PREFIX = '\u001eBAZOOKA-PORT ';

// Everything but replies goes to stderr: Knex's default logger and migrations use console.log.
for (const method of ['log', 'info', 'debug']) {
  console[method] = (...args) => process.stderr.write(`${util.format(...args)}\n`);
}

const pg = require('pg');
const pgUtils = require('pg/lib/utils');
const { Migrator } = require('knex/lib/migrate/Migrator');

let capture = null; // the statement list while a migration's own function runs, else null

const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function query(config, values, callback) {
  const submittable = config && typeof config.submit === 'function';
  if (capture === null || submittable) {
    return originalQuery.apply(this, arguments);
  }
  const text = typeof config === 'string' ? config : config.text;
  let params = typeof config === 'object' && config.values ? config.values : [];
  if (Array.isArray(values)) params = values;
  const record = {
    text,
    values: params.map(wireValue),
    returned_rows: false,
    row_count: null,
    error: null,
  };
  capture.push(record);
  const observe = (err, res) => {
    if (err) {
      record.error = err.message;
      return;
    }
    const results = Array.isArray(res) ? res : [res];
    record.returned_rows = results.some((r) => r && Array.isArray(r.fields) && r.fields.length > 0);
    record.row_count = results.reduce((n, r) => n + (r && typeof r.rowCount === 'number' ? r.rowCount : 0), 0);
  };
  const cbIndex = typeof values === 'function' ? 1 : typeof callback === 'function' ? 2 : -1;
  if (cbIndex !== -1) {
    const args = Array.from(arguments);
    const cb = args[cbIndex];
    args[cbIndex] = (err, res) => {
      observe(err, res);
      cb(err, res);
    };
    return originalQuery.apply(this, args);
  }
  const result = originalQuery.apply(this, arguments);
  if (result && typeof result.then === 'function') {
    result.then((res) => observe(null, res), (err) => observe(err));
  }
  return result;
};

// A parameter as pg sends it: text after pg's prepareValue, null, or bytes (sent as binary).
function wireValue(value) {
  const prepared = pgUtils.prepareValue(value);
  if (prepared === null || prepared === undefined) return null;
  if (Buffer.isBuffer(prepared)) return { bytes_hex: prepared.toString('hex') };
  return String(prepared);
}

function reply(payload) {
  process.stdout.write(`${REPLY_PREFIX}${JSON.stringify(payload)}\n`);
}

// --- compile ---------------------------------------------------------------------------

function compile(from, to) {
  const ts = require('typescript');
  const options = {
    module: ts.ModuleKind.CommonJS,
    target: ts.ScriptTarget.ES2020,
    esModuleInterop: true,
  };
  const errors = {};
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const source = path.join(dir, entry.name);
      const relative = path.relative(from, source);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(source);
        continue;
      }
      let target = path.join(to, relative);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        target = target.slice(0, -'.ts'.length) + '.js';
        const output = ts.transpileModule(fs.readFileSync(source, 'utf8'), {
          compilerOptions: options,
          fileName: entry.name,
          reportDiagnostics: true,
        });
        const problems = (output.diagnostics || []).map((d) =>
          ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        if (problems.length) errors[relative] = problems.join('; ');
        fs.writeFileSync(target, output.outputText);
      } else if (entry.name.endsWith('.js') || entry.name.endsWith('.json')) {
        fs.copyFileSync(source, target);
      }
    }
  };
  walk(from);
  const directory = path.join(from, 'migration_files');
  const migrations = fs.readdirSync(directory)
    .filter((file) => (file.endsWith('.ts') && !file.endsWith('.d.ts')) || file.endsWith('.js'))
    .map((file) => ({
      file: path.join('migration_files', file),
      name: file.endsWith('.ts') ? `${file.slice(0, -'.ts'.length)}.js` : file,
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { migrations, errors, typescript: ts.version };
}

// --- run ---------------------------------------------------------------------------------

let knex = null;
const warnings = [];

function open(connection) {
  const makeKnex = require('knex');
  knex = makeKnex({
    client: 'pg',
    connection,
    // The original's defaults (PG_POOL_MIN / PG_POOL_MAX).
    pool: { min: 1, max: 2 },
    log: {
      warn: (message) => warnings.push(String(message)),
      error: (message) => warnings.push(String(message)),
      deprecate: (message) => warnings.push(String(message)),
      debug: () => {},
    },
  });
  return { knex: require('knex/package.json').version, pg: require('pg/package.json').version };
}

function loadMigration(build, name) {
  // A fresh load per run, as a new process would do: module state must not carry over from
  // the first `up` to the second, or non-determinism would hide.
  for (const key of Object.keys(require.cache)) {
    if (key.startsWith(build + path.sep)) delete require.cache[key];
  }
  return require(path.join(build, 'migration_files', name));
}

async function run(request) {
  const { build, migration, direction, completed } = request;
  let contents;
  try {
    contents = loadMigration(build, migration);
  } catch (error) {
    return { ok: false, error: `cannot load ${migration}: ${error.message}`, statements: [] };
  }
  const statements = [];
  let returnedPromise = true;
  // Only functions are wrapped: a missing up/down must still fail Knex's own structure check.
  const wrap = (fn) => typeof fn !== 'function' ? fn : function wrapped(db) {
    capture = statements;
    let result;
    try {
      result = fn.call(contents, db);
    } catch (error) {
      capture = null;
      throw error;
    }
    if (!result || typeof result.then !== 'function') {
      // Knex commits at once and does not wait: what it runs is not a defined sequence.
      returnedPromise = false;
      capture = null;
      return result;
    }
    return Promise.resolve(result).finally(() => {
      capture = null;
    });
  };
  const target = { config: contents.config, up: wrap(contents.up), down: wrap(contents.down) };
  const placeholder = (name) => ({
    up: () => { throw new Error(`${name} is already recorded; it must not run`); },
    down: () => { throw new Error(`${name} is not the migration being ported; it must not run`); },
  });
  const names = [...new Set([...completed, migration])].sort();
  const migrationSource = {
    getMigrations: async () => names,
    getMigrationName: (name) => name,
    getMigration: (name) => (name === migration ? target : placeholder(name)),
  };
  const transaction = new Migrator(knex)._useTransaction(contents, false);
  warnings.length = 0;
  let result;
  let error = null;
  try {
    result = direction === 'up'
      ? await knex.migrate.latest({ migrationSource })
      : await knex.migrate.rollback({ migrationSource });
  } catch (e) {
    error = e && e.message ? e.message : String(e);
  } finally {
    capture = null;
  }
  const ran = result && Array.isArray(result[1]) ? result[1] : [];
  if (!error && (ran.length !== 1 || ran[0] !== migration)) {
    error = `Knex ran ${JSON.stringify(ran)} instead of ${migration} (${direction})`;
  }
  return {
    ok: error === null,
    error,
    statements,
    transaction,
    returned_promise: returnedPromise,
    warnings: [...warnings],
  };
}

// --- loop ----------------------------------------------------------------------------------

async function handle(request) {
  switch (request.op) {
    case 'compile':
      return { ok: true, ...compile(request.from, request.to) };
    case 'open':
      return { ok: true, versions: open(request.connection) };
    case 'run':
      return run(request);
    case 'disconnect':
      if (knex) await knex.destroy();
      knex = null;
      return { ok: true };
    default:
      return { ok: false, error: `unknown op ${request.op}` };
  }
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let payload;
    try {
      payload = await handle(JSON.parse(line));
    } catch (error) {
      payload = { ok: false, error: error && error.stack ? error.stack : String(error) };
    }
    reply(payload);
  }
  if (knex) await knex.destroy();
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
