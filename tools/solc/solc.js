#!/usr/bin/env node
// A `solc` stand-in backed by the npm `solc` package (solcjs).
//
// No native solc can be downloaded on the machines Ballast is built on, so py-solc-x
// (and through it ape-solidity and slither) is pointed at this program through
// SOLCX_BINARY_PATH. It implements exactly the part of solc's command line those tools use:
//
//   solc --version
//   solc --standard-json [--base-path P] [--include-path P]... [--allow-paths P,P] [FILE]
//
// The input JSON is read from FILE or from stdin, compiled with the module's `compile()`
// and an import callback that resolves paths the way native solc does (base path first,
// then include paths, only inside the allowed directories), and the output JSON alone is
// written to stdout. The solcjs CLI is deliberately not used: it prints a
// ">>> Cannot retry compilation with SMT" line on stdout that corrupts the JSON.
//
// Sources are handed to the compiler by reference: solc-js copies the whole standard-json
// input onto its 5 MiB wasm stack, and inputs near 1.3 MB crash it ("memory access out of
// bounds"). Every inline `content` is therefore replaced by a `urls` entry naming the same
// source unit, and the import callback hands the text over from memory (on the wasm heap),
// so the input the compiler copies stays a few KB whatever the sources weigh.
//
// Two node pitfalls are handled here:
//  - reading a large stdin pipe with fs.readFileSync(0) can fail with EAGAIN when the
//    descriptor is non-blocking: we read chunk by chunk and wait on EAGAIN;
//  - process.exit() right after a large stdout write truncates it (at 64 KiB on pipes):
//    we only set process.exitCode and let node flush and exit on its own.
//
// Internal failures (bad arguments, unreadable input, a compiler crash) print one line on
// stderr and exit non-zero. Compilation errors are not failures: like native solc, they
// come back inside the output JSON ("errors") with exit code 0.
'use strict';

const fs = require('fs');
const path = require('path');

const USAGE = 'usage: solc --version | solc --standard-json [--base-path DIR] '
  + '[--include-path DIR]... [--allow-paths DIR[,DIR...]] [INPUT_FILE]';

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: null, includePaths: [], allowPaths: [], inputFile: null };
  const takeValue = (i, flag) => {
    if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inlineValue = null;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      inlineValue = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const value = () => {
      if (inlineValue !== null) return inlineValue;
      const v = takeValue(i, arg);
      i += 1;
      return v;
    };
    switch (arg) {
      case '--version': opts.version = true; break;
      case '--standard-json': opts.standardJson = true; break;
      case '--base-path': opts.basePath = value(); break;
      case '--include-path': opts.includePaths.push(value()); break;
      case '--allow-paths': opts.allowPaths.push(...value().split(',').filter(Boolean)); break;
      // Accepted for compatibility; output is always compact JSON.
      case '--pretty-json': break;
      default:
        if (arg.startsWith('-')) throw new UsageError(`unsupported option ${arg}`);
        if (opts.inputFile !== null) throw new UsageError(`more than one input file: ${arg}`);
        opts.inputFile = arg;
    }
  }
  if (!opts.version && !opts.standardJson) throw new UsageError('nothing to do');
  return opts;
}

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// Read all of a file descriptor, tolerating EAGAIN from non-blocking pipes.
function readAll(fd) {
  const chunks = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    let n;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK') { sleepMs(5); continue; }
      if (err.code === 'EOF') break;
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isInside(file, dir) {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

// Build solc's import callback: a source unit name is looked up under the base path, then
// under every include path (absolute names as they are), and only read when the file lies
// inside an allowed directory (base path, include paths, --allow-paths), as native solc does.
function makeImportCallback(opts, inline = new Map()) {
  const cwd = process.cwd();
  const basePath = path.resolve(cwd, opts.basePath || '.');
  const includePaths = opts.includePaths.map((p) => path.resolve(cwd, p));
  const allowed = [basePath, ...includePaths, ...opts.allowPaths.map((p) => path.resolve(cwd, p))];
  return (unitName) => {
    if (inline.has(unitName)) return { contents: inline.get(unitName) };
    const candidates = path.isAbsolute(unitName)
      ? [unitName]
      : [basePath, ...includePaths].map((root) => path.join(root, unitName));
    for (const candidate of candidates) {
      if (!fs.existsSync(candidate) || !fs.statSync(candidate).isFile()) continue;
      const real = fs.realpathSync(candidate);
      if (!allowed.some((dir) => isInside(candidate, dir) || isInside(real, dir))) {
        return { error: `File outside of allowed directories: ${unitName}` };
      }
      return { contents: fs.readFileSync(candidate, 'utf8') };
    }
    return { error: `File not found: ${unitName} (searched ${[basePath, ...includePaths].join(', ')})` };
  };
}

// Move every inline source text out of the standard-json input: the source keeps its unit
// name and gets `urls: [ref]`, and `ref` resolves to the text through the import callback.
// Returns the slimmed input and the map the callback serves from.
function byReference(inputText) {
  let input;
  try {
    input = JSON.parse(inputText);
  } catch (err) {
    throw new Error(`standard-json input is not JSON: ${err.message}`);
  }
  const inline = new Map();
  const sources = input && typeof input.sources === 'object' && input.sources !== null ? input.sources : {};
  for (const [unitName, source] of Object.entries(sources)) {
    if (!source || typeof source.content !== 'string') continue;
    const ref = `ballast-inline:${unitName}`;
    inline.set(ref, source.content);
    const { content, ...rest } = source; // keccak256 (if given) still checks the text
    sources[unitName] = { ...rest, urls: [ref] };
  }
  return { text: JSON.stringify(input), inline };
}

function loadSolc() {
  try {
    return require('solc');
  } catch (err) {
    throw new Error(`cannot load the npm package "solc" (run npm ci): ${err.message}`);
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const solc = loadSolc();
  if (opts.version) {
    // Native solc's two-line format; py-solc-x and ape-solidity parse the second line.
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  const input = opts.inputFile ? fs.readFileSync(opts.inputFile, 'utf8') : readAll(0);
  if (!input.trim()) throw new Error('empty standard-json input');
  const { text, inline } = byReference(input);
  const output = solc.compile(text, { import: makeImportCallback(opts, inline) });
  process.stdout.write(output);
  process.stdout.write('\n');
}

try {
  main();
} catch (err) {
  process.stderr.write(`solc stand-in: ${err instanceof UsageError ? `${err.message}\n${USAGE}` : err.message}\n`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
