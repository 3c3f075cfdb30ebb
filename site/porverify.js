// porverify.js: the in-browser verifier of porsegregate/1 (docs/protocol.md).
//
// Dependency-free ES module. Cryptography is WebCrypto only (SHA-256, HMAC-free
// HKDF, AES-256-GCM, Ed25519); amounts are BigInt. It runs the same checks, with
// the same ids, as the Python verifier, and passes the same test vectors.
// The root hash and total of every asset come only from the signed attestation;
// the client's leaf is always rebuilt from their own account id and code.
//
// SPDX-License-Identifier: GPL-3.0-or-later

export const VERSION = "porsegregate/1";
export const PROOF_FORMAT = "porsegregate-proof/1";
const AMOUNT_BYTES = 16;
const MAX_AMOUNT = (1n << 128n) - 1n;
const MAX_HEIGHT = 64;
const MAX_DECIMALS = 30;
const MAX_TEXT = 4000;
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const DIGITS = 28;
const SECRET_BYTES = 17;
const SECRET_BITS = 130n;

const LEAF = 0x00;
const NODE = 0x01;
const ACCOUNT = 0x03;
const CODE_CHECK = 0x04;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const VERSION_BYTES = utf8.encode(VERSION);

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) {
    throw new Error(
      "this browser has no WebCrypto (open the page over https or as a local file, " +
        "or use `porsegregate verify`)",
    );
  }
  return s;
}

// ---------------------------------------------------------------- bytes

function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function lp(bytes) {
  if (bytes.length > 255) throw new FormatError("field longer than 255 bytes");
  return concat(Uint8Array.of(bytes.length), bytes);
}

function u32(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

function amountBytes(value) {
  const out = new Uint8Array(AMOUNT_BYTES);
  let v = value;
  for (let i = AMOUNT_BYTES - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function toHex(bytes) {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

export function fromHex(text) {
  if (!/^(?:[0-9a-f]{2})*$/.test(text)) throw new FormatError("not lowercase hex");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Strict base64 (as Python's b64decode(validate=True)): no whitespace, correct padding. */
export function fromBase64(text, what) {
  if (typeof text !== "string" || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new FormatError(`${what} is not valid base64`);
  }
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function bytesToBigInt(bytes) {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

// ---------------------------------------------------------------- errors

/** A file that is not what the protocol says it is. */
export class FormatError extends Error {
  constructor(message) {
    super(message);
    this.name = "FormatError";
  }
}

/** A code that cannot be a client code; kind is "format" or "checksum". */
export class CodeError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = "CodeError";
    this.kind = kind;
  }
}

/** A site that cannot be read (missing file, network); not a verification result. */
export class SiteError extends Error {
  constructor(message) {
    super(message);
    this.name = "SiteError";
  }
}

// ---------------------------------------------------------------- primitives

export async function sha256(bytes) {
  return new Uint8Array(await subtle().digest("SHA-256", bytes));
}

async function hkdf(ikm, salt, info, length) {
  const key = await subtle().importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  const bits = await subtle().deriveBits(
    { name: "HKDF", hash: "SHA-256", salt, info },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

async function aesGcmDecrypt(keyBytes, entry, aad) {
  if (entry.length < 12 + 16) return null;
  const key = await subtle().importKey("raw", keyBytes, "AES-GCM", false, ["decrypt"]);
  try {
    const plain = await subtle().decrypt(
      { name: "AES-GCM", iv: entry.subarray(0, 12), additionalData: aad, tagLength: 128 },
      key,
      entry.subarray(12),
    );
    return new Uint8Array(plain);
  } catch {
    return null;
  }
}

function pemToDer(pem) {
  const m = /^-----BEGIN PUBLIC KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PUBLIC KEY-----\s*$/.exec(
    pem.trim() + "\n",
  );
  if (!m) throw new FormatError("not a PEM public key");
  return fromBase64(m[1].replace(/\s+/g, ""), "the public key");
}

async function importEd25519(pem) {
  const der = pemToDer(pem);
  return subtle().importKey("spki", der, { name: "Ed25519" }, true, ["verify"]);
}

// ---------------------------------------------------------------- codes and keys

const DIGIT_VALUE = new Map([...ALPHABET].map((c, i) => [c, BigInt(i)]));
const ALIASES = { O: "0", I: "1", L: "1" };

async function checksum(secret) {
  const h = await sha256(concat(Uint8Array.of(CODE_CHECK), secret));
  return ((h[0] << 8) | h[1]) >> 6;
}

/** The 17-byte client secret in a code; tolerant of case, spaces, dashes and O/I/L. */
export async function parseCode(text) {
  let cleaned = "";
  for (const c of String(text).toUpperCase()) {
    if (c === " " || c === "-") continue;
    cleaned += ALIASES[c] ?? c;
  }
  if (cleaned.length !== DIGITS || [...cleaned].some((c) => !DIGIT_VALUE.has(c))) {
    throw new CodeError("format", `a client code has ${DIGITS} letters and digits in groups of 4`);
  }
  let value = 0n;
  for (const c of cleaned) value = value * 32n + DIGIT_VALUE.get(c);
  const check = Number(value & 0x3ffn);
  const secretValue = value >> 10n;
  if (secretValue >> SECRET_BITS) throw new CodeError("format", "not a valid client code");
  const secret = new Uint8Array(SECRET_BYTES);
  let v = secretValue;
  for (let i = SECRET_BYTES - 1; i >= 0; i--) {
    secret[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (check !== (await checksum(secret))) {
    throw new CodeError("checksum", "the code's checksum does not match: check it for a typo");
  }
  return secret;
}

/** nonce (32 bytes), lookup (16) and AES key (32) of one client for one epoch. */
export async function deriveEpochKeys(secret, epoch) {
  const info = concat(utf8.encode("epoch-keys"), Uint8Array.of(0), lp(utf8.encode(epoch)));
  const k = await hkdf(secret, VERSION_BYTES, info, 80);
  return { nonce: k.slice(0, 32), lookup: k.slice(32, 48), key: k.slice(48, 80) };
}

export async function accountCommitment(epoch, nonce, accountId) {
  return sha256(
    concat(
      Uint8Array.of(ACCOUNT),
      lp(VERSION_BYTES),
      lp(utf8.encode(epoch)),
      nonce,
      lp(utf8.encode(accountId)),
    ),
  );
}

export async function leafHash(epoch, asset, commitment, part, amount) {
  return sha256(
    concat(
      Uint8Array.of(LEAF),
      lp(VERSION_BYTES),
      lp(utf8.encode(epoch)),
      lp(utf8.encode(asset)),
      commitment,
      u32(part),
      amountBytes(amount),
    ),
  );
}

function nodeHash(left, leftSum, right, rightSum) {
  return sha256(
    concat(Uint8Array.of(NODE), left, amountBytes(leftSum), right, amountBytes(rightSum)),
  );
}

class PathError extends Error {
  constructor(check, message) {
    super(message);
    this.check = check;
  }
}

/** Recompute (root hash, root sum) from a leaf, checking shape and ranges (T1-T3, T6, T10). */
export async function foldPath(leaf, amount, index, siblings, height) {
  if (siblings.length !== height || height > MAX_HEIGHT) {
    throw new PathError(
      "path-height",
      `the path has ${siblings.length} levels; the signed tree has ${height}`,
    );
  }
  if (index < 0n || index >= 1n << BigInt(height)) {
    throw new PathError("index-range", `leaf index ${index} is outside a tree of height ${height}`);
  }
  if (amount < 0n || amount > MAX_AMOUNT) {
    throw new PathError("sum-range", "the leaf amount is outside [0, 2^128-1]");
  }
  let cur = leaf;
  let total = amount;
  for (let k = 0; k < siblings.length; k++) {
    const [sib, sibSum] = siblings[k];
    if (sib.length !== 32) throw new PathError("bundle-format", `sibling ${k} is not a 32-byte hash`);
    if (sibSum < 0n || sibSum > MAX_AMOUNT) {
      throw new PathError("sum-range", `sibling sum at level ${k} is outside [0, 2^128-1]`);
    }
    cur = (index >> BigInt(k)) & 1n ? await nodeHash(sib, sibSum, cur, total) : await nodeHash(cur, total, sib, sibSum);
    total += sibSum;
    if (total > MAX_AMOUNT) throw new PathError("sum-range", `the sum at level ${k + 1} exceeds 2^128-1`);
  }
  return [cur, total];
}

// ---------------------------------------------------------------- binary formats

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }
  take(n) {
    if (this.pos + n > this.bytes.length) throw new FormatError(`truncated at byte ${this.pos}`);
    const chunk = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return chunk;
  }
  u8() {
    return this.take(1)[0];
  }
  u32() {
    const at = this.pos;
    this.take(4);
    return this.view.getUint32(at);
  }
  u64() {
    const at = this.pos;
    this.take(8);
    return this.view.getBigUint64(at);
  }
  amount() {
    return bytesToBigInt(this.take(AMOUNT_BYTES));
  }
  text(what) {
    return this.textAndBytes(what)[0];
  }
  textAndBytes(what) {
    const raw = this.take(this.u8());
    try {
      return [strictUtf8.decode(raw), raw.slice()];
    } catch {
      throw new FormatError(`${what} is not UTF-8`);
    }
  }
  done() {
    if (this.pos !== this.bytes.length) {
      throw new FormatError(`${this.bytes.length - this.pos} trailing bytes`);
    }
  }
}

const BUNDLE_MAGIC = utf8.encode("PSB1");
const SHARD_MAGIC = utf8.encode("PSS1");

/** A decrypted proof bundle (protocol section 6). */
export function decodeBundle(bytes) {
  const r = new Reader(bytes);
  if (!equalBytes(r.take(4), BUNDLE_MAGIC)) throw new FormatError("not a porsegregate proof bundle");
  const version = r.text("version");
  if (version !== VERSION) throw new FormatError(`unsupported bundle version ${JSON.stringify(version)}`);
  const epoch = r.text("epoch");
  const [accountId, accountIdBytes] = r.textAndBytes("account id");
  const assets = [];
  const assetCount = r.u8();
  for (let a = 0; a < assetCount; a++) {
    const asset = r.text("asset");
    const count = r.u8();
    if (count === 0) throw new FormatError(`asset ${asset} has no leaves`);
    const leaves = [];
    for (let l = 0; l < count; l++) {
      const part = r.u32();
      const amount = r.amount();
      const height = r.u8();
      if (height > MAX_HEIGHT) throw new FormatError(`height ${height} of ${asset} is over ${MAX_HEIGHT}`);
      const index = r.u64();
      const siblings = [];
      for (let k = 0; k < height; k++) siblings.push([r.take(32), r.amount()]);
      leaves.push({ part, amount, index, siblings });
    }
    assets.push({ asset, leaves });
  }
  r.done();
  return { version, epoch, accountId, accountIdBytes, assets };
}

/** A shard file: Map from lookup hex to encrypted entry. */
export function decodeShard(bytes) {
  const r = new Reader(bytes);
  if (!equalBytes(r.take(4), SHARD_MAGIC)) throw new FormatError("not a porsegregate shard file");
  const entries = new Map();
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const lookup = toHex(r.take(16));
    entries.set(lookup, r.take(r.u32()));
  }
  r.done();
  return entries;
}

export function bundleAad(epoch, lookup) {
  return concat(lp(VERSION_BYTES), lp(utf8.encode(epoch)), lookup);
}

export function shardName(lookupHexPrefix) {
  return `proofs/${lookupHexPrefix || "all"}.bin`;
}

// ---------------------------------------------------------------- JSON documents

const HEX64 = /^[0-9a-f]{64}$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const EPOCH_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ASSET_RE = /^[A-Z0-9][A-Z0-9._-]{0,31}$/;
const UNITS_RE = /^(?:0|[1-9][0-9]*)$/;

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function get(obj, key, kind, where) {
  if (!isObject(obj) || !Object.prototype.hasOwnProperty.call(obj, key)) {
    throw new FormatError(`${where}.${key} is missing`);
  }
  const value = obj[key];
  const ok =
    kind === "int"
      ? Number.isSafeInteger(value)
      : kind === "dict"
        ? isObject(value)
        : kind === "list"
          ? Array.isArray(value)
          : typeof value === kind;
  if (!ok) {
    const name = { int: "an integer", dict: "a dict", list: "a list", string: "a str" }[kind];
    throw new FormatError(`${where}.${key} must be ${name}`);
  }
  if (typeof value === "string" && [...value].length > MAX_TEXT) {
    throw new FormatError(`${where}.${key} is too long`);
  }
  return value;
}

function loadJson(bytes, what) {
  try {
    return JSON.parse(strictUtf8.decode(bytes));
  } catch (e) {
    throw new FormatError(`${what} is not JSON: ${e.message}`);
  }
}

/** RFC 8785 (JCS) serialisation of a parsed JSON value; ES's JSON.stringify is JCS for scalars. */
export function canonicalJson(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new FormatError("not a finite number");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  // Keys sorted by UTF-16 code units, which is what Array.prototype.sort does.
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
}

/**
 * Signed documents must be exactly RFC 8785: one reading for every JSON parser
 * (no duplicate keys, no floats standing in for integers, no other spelling).
 */
function loadCanonical(bytes, what) {
  const doc = loadJson(bytes, what);
  if (!equalBytes(utf8.encode(canonicalJson(doc)), bytes)) {
    throw new FormatError(
      `${what} is not in RFC 8785 canonical form (duplicate keys, floats, whitespace or key order)`,
    );
  }
  return doc;
}

function parseUnits(text) {
  if (typeof text !== "string" || text.length > 39 || !UNITS_RE.test(text)) {
    throw new FormatError(`${JSON.stringify(text)} is not a smallest-unit decimal string`);
  }
  const value = BigInt(text);
  if (value > MAX_AMOUNT) throw new FormatError(`${JSON.stringify(text)} exceeds 2^128-1`);
  return value;
}

/** attestation.json, parsed as strictly as the Python verifier parses it. */
export function parseAttestation(bytes) {
  const doc = loadCanonical(bytes, "attestation.json");
  const fmt = get(doc, "format", "string", "attestation");
  if (fmt !== VERSION) throw new FormatError(`attestation format ${JSON.stringify(fmt)} is not ${VERSION}`);
  const cust = get(doc, "custodian", "dict", "attestation");
  const epoch = get(doc, "epoch", "dict", "attestation");
  const liab = get(doc, "liabilities", "dict", "attestation");
  if (get(liab, "hash", "string", "liabilities") !== "SHA-256") {
    throw new FormatError("liabilities.hash must be SHA-256");
  }
  if (get(liab, "amount_bytes", "int", "liabilities") !== AMOUNT_BYTES) {
    throw new FormatError(`liabilities.amount_bytes must be ${AMOUNT_BYTES}`);
  }
  const assets = get(liab, "assets", "list", "liabilities").map((item, i) => {
    const where = `liabilities.assets[${i}]`;
    const root = get(item, "root", "string", where);
    if (!HEX64.test(root)) throw new FormatError(`${where}.root must be 64 lowercase hex digits`);
    const decimals = get(item, "decimals", "int", where);
    const height = get(item, "padded_height", "int", where);
    if (decimals < 0 || decimals > MAX_DECIMALS || height < 0 || height > MAX_HEIGHT) {
      throw new FormatError(`${where}: decimals or padded_height out of range`);
    }
    const code = get(item, "code", "string", where);
    if (!ASSET_RE.test(code)) throw new FormatError(`${where}: asset code ${JSON.stringify(code)} is malformed`);
    const total = parseUnits(get(item, "total", "string", where));
    return { code, decimals, root: fromHex(root), total, paddedHeight: height };
  });
  const codes = assets.map((a) => a.code);
  const sorted = [...new Set(codes)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (codes.length !== sorted.length || codes.some((c, i) => c !== sorted[i])) {
    throw new FormatError("liabilities.assets must be sorted by code without duplicates");
  }
  const prev = isObject(doc) ? (doc.previous_attestation_sha256 ?? null) : null;
  if (prev !== null && !(typeof prev === "string" && HEX64.test(prev))) {
    throw new FormatError("previous_attestation_sha256 must be null or 64 hex digits");
  }
  const snapshot = get(epoch, "snapshot_time", "string", "epoch");
  if (!TIME.test(snapshot)) throw new FormatError("epoch.snapshot_time must be YYYY-MM-DDTHH:MM:SSZ");
  const epochId = get(epoch, "id", "string", "epoch");
  if (!EPOCH_RE.test(epochId)) throw new FormatError(`epoch id ${JSON.stringify(epochId)} is malformed`);
  return {
    format: fmt,
    generator: get(doc, "generator", "string", "attestation"),
    custodian: {
      name: get(cust, "name", "string", "custodian"),
      legal_entity: get(cust, "legal_entity", "string", "custodian"),
    },
    segregationArrangement: get(get(doc, "segregation", "dict", "attestation"), "arrangement", "string", "segregation"),
    epochId,
    snapshotTime: snapshot,
    assets,
    previousAttestationSha256: prev,
  };
}

function parseManifest(bytes) {
  const doc = loadCanonical(bytes, "manifest.json");
  if (get(doc, "format", "string", "manifest") !== VERSION) {
    throw new FormatError(`manifest format is not ${VERSION}`);
  }
  const att = get(doc, "attestation_sha256", "string", "manifest");
  const prefix = get(get(doc, "proofs", "dict", "manifest"), "shard_prefix_hex_chars", "int", "proofs");
  const files = get(doc, "files", "dict", "manifest");
  if (!HEX64.test(att) || prefix < 0 || prefix > 32) {
    throw new FormatError("manifest.attestation_sha256 or proofs.shard_prefix_hex_chars is bad");
  }
  for (const [path, digest] of Object.entries(files)) {
    if (typeof digest !== "string" || !HEX64.test(digest)) {
      throw new FormatError(`manifest.files[${JSON.stringify(path)}] is not a SHA-256 hex digest`);
    }
  }
  return { epoch: get(doc, "epoch", "string", "manifest"), attestationSha256: att, shardPrefixChars: prefix, files };
}

/** A downloaded proof file (protocol section 10) as raw bytes; throws FormatError. */
export function parseProofFile(doc) {
  if (get(doc, "format", "string", "proof") !== PROOF_FORMAT) {
    throw new FormatError(`not a ${PROOF_FORMAT} file`);
  }
  const lookup = get(doc, "lookup", "string", "proof");
  if (!/^[0-9a-f]{32}$/.test(lookup)) throw new FormatError("proof.lookup must be 32 lowercase hex digits");
  return {
    attestation: fromBase64(doc.attestation, "proof.attestation"),
    attestationSig: fromBase64(doc.attestation_sig, "proof.attestation_sig"),
    publicKeyPem: get(doc, "public_key_pem", "string", "proof"),
    lookup: fromHex(lookup),
    entry: fromBase64(doc.entry, "proof.entry"),
  };
}

function proofFileDoc(p) {
  return {
    format: PROOF_FORMAT,
    attestation: toBase64(p.attestation),
    attestation_sig: toBase64(p.attestationSig),
    public_key_pem: p.publicKeyPem,
    lookup: toHex(p.lookup),
    entry: toBase64(p.entry),
  };
}

// ---------------------------------------------------------------- amounts

/** 150000000n with 8 decimals -> "1.5" (exact; no floats, no exponent). */
export function formatAmount(units, decimals) {
  const v = BigInt(units);
  if (v < 0n) throw new RangeError("negative amount");
  if (!decimals) return v.toString();
  const scale = 10n ** BigInt(decimals);
  const whole = v / scale;
  const frac = v % scale;
  if (frac === 0n) return whole.toString();
  return `${whole}.${frac.toString().padStart(decimals, "0").replace(/0+$/, "")}`;
}

export function formatFingerprint(hex) {
  return hex.match(/.{1,4}/g)?.join(" ") ?? "";
}

// ---------------------------------------------------------------- verification

class Failed extends Error {}

class Run {
  constructor() {
    this.report = {
      verified: false,
      failed: null,
      checks: [],
      epoch: null,
      custodian: null,
      keyFingerprint: null,
      balances: [],
      proof: null,
    };
  }
  ok(id, detail, asset = null) {
    this.report.checks.push({ id, ok: true, detail, asset });
  }
  fail(id, detail, asset = null) {
    const check = { id, ok: false, detail, asset };
    this.report.checks.push(check);
    this.report.failed = check;
    return new Failed(detail);
  }
  finish() {
    this.report.verified = this.report.checks.length > 0 && this.report.failed === null;
    return this.report;
  }
}

/** The value `parse()` returns, or a failed `check` when the input is malformed. */
function parsedOrFail(run, check, what, parse) {
  try {
    return parse();
  } catch (e) {
    if (e instanceof FormatError) throw run.fail(check, `${what} is malformed: ${e.message}`);
    throw e;
  }
}

async function checkCode(run, code) {
  try {
    const secret = await parseCode(code);
    run.ok("code", "the code is well formed and its checksum matches");
    return secret;
  } catch (e) {
    if (e instanceof CodeError) throw run.fail("code", e.message);
    throw e;
  }
}

async function checkAttestation(run, data, signature, publicPem, expectKey) {
  let key;
  try {
    key = await importEd25519(publicPem);
  } catch (e) {
    if (e instanceof FormatError || (e && e.name === "DataError")) {
      throw run.fail("attestation-signature", "custodian.pub.pem is not an Ed25519 public key");
    }
    if (e && e.name === "NotSupportedError") {
      throw new Error(
        "this browser cannot check Ed25519 signatures; use a current browser or `porsegregate verify`",
      );
    }
    throw e;
  }
  const raw = new Uint8Array(await subtle().exportKey("raw", key));
  run.report.keyFingerprint = toHex(await sha256(raw));
  const good = await subtle().verify({ name: "Ed25519" }, key, signature, data);
  if (!good) {
    throw run.fail(
      "attestation-signature",
      "the attestation's signature does not verify under the custodian's key: " +
        "the attestation or signature was altered",
    );
  }
  run.ok("attestation-signature", "the attestation is signed by the custodian key");
  if (expectKey !== null && expectKey !== undefined && expectKey !== "") {
    const wanted = String(expectKey).replace(/[ :-]/g, "").toLowerCase();
    if (!equalBytes(utf8.encode(wanted), utf8.encode(run.report.keyFingerprint))) {
      throw run.fail(
        "key-pin",
        `the custodian key ${run.report.keyFingerprint} is not the one you expected ` +
          `(${wanted}): do not trust this site`,
      );
    }
    run.ok("key-pin", "the custodian key matches the fingerprint you pinned");
  }
  const attestation = parsedOrFail(run, "format", "attestation.json", () => parseAttestation(data));
  run.report.epoch = attestation.epochId;
  run.report.custodian = { ...attestation.custodian };
  run.ok("format", `attestation format ${attestation.format}, epoch ${attestation.epochId}`);
  return { attestation, key };
}

async function openBundle(run, attestation, keys, entry) {
  const epoch = attestation.epochId;
  if (entry === null) {
    throw run.fail(
      "proof-found",
      "there is no proof for this account id and code in this epoch: check both for typos; " +
        "if they are right, you were left out of the published proof",
    );
  }
  run.ok("proof-found", "a proof for your code is published");
  const plaintext = await aesGcmDecrypt(keys.key, entry, bundleAad(epoch, keys.lookup));
  if (plaintext === null) throw run.fail("decrypt", "your proof does not decrypt with your code: it was altered");
  run.ok("decrypt", "your proof decrypts with your code (AES-256-GCM)");
  const bundle = parsedOrFail(run, "bundle-format", "your proof", () => decodeBundle(plaintext));
  run.ok("bundle-format", "your proof is well formed");
  return bundle;
}

async function checkBundle(run, attestation, keys, accountId, bundle) {
  const epoch = attestation.epochId;
  if (bundle.epoch !== epoch) {
    throw run.fail(
      "bundle-epoch",
      `your proof is for epoch ${JSON.stringify(bundle.epoch)}, the attestation for ` +
        `${JSON.stringify(epoch)}: a replayed proof`,
    );
  }
  run.ok("bundle-epoch", `your proof is for epoch ${epoch}`);
  if (!equalBytes(bundle.accountIdBytes, utf8.encode(accountId))) {
    throw run.fail("bundle-account", "your proof is for a different account id");
  }
  run.ok("bundle-account", "your proof is for your account id");
  const commitment = await accountCommitment(epoch, keys.nonce, accountId);
  const balances = [];
  for (const assetProof of bundle.assets) {
    const code = assetProof.asset;
    const signed = attestation.assets.find((a) => a.code === code);
    if (!signed) throw run.fail("asset-known", `${code} is not in the signed attestation`, code);
    run.ok("asset-known", `${code} is in the signed attestation`, code);
    const seen = new Set();
    let rootOk = true;
    let totalOk = true;
    let balance = 0n;
    for (const leaf of assetProof.leaves) {
      if (seen.has(leaf.index)) {
        throw run.fail("index-range", `two of your ${code} leaves claim index ${leaf.index}`, code);
      }
      seen.add(leaf.index);
      const rebuilt = await leafHash(epoch, code, commitment, leaf.part, leaf.amount);
      let root;
      let total;
      try {
        [root, total] = await foldPath(rebuilt, leaf.amount, leaf.index, leaf.siblings, signed.paddedHeight);
      } catch (e) {
        if (e instanceof PathError) throw run.fail(e.check, `${code}: ${e.message}`, code);
        throw e;
      }
      rootOk = equalBytes(root, signed.root) && rootOk;
      totalOk = total === signed.total && totalOk;
      balance += leaf.amount;
    }
    run.ok("path-height", `every ${code} path has the signed height ${signed.paddedHeight}`, code);
    run.ok("index-range", `every ${code} leaf index is inside the tree`, code);
    run.ok("sum-range", `every ${code} sum is within [0, 2^128-1]`, code);
    if (!rootOk) {
      throw run.fail(
        "root-hash",
        `the path does not lead to the signed root of ${code}: ` +
          "the proof was altered or you are not included",
        code,
      );
    }
    run.ok("root-hash", `your ${code} balance is included under the signed root`, code);
    if (!totalOk) {
      throw run.fail(
        "root-total",
        `the path's sums do not add up to the signed ${code} total: the total was understated`,
        code,
      );
    }
    run.ok("root-total", `the sums along your ${code} path add up to the signed total`, code);
    balances.push({
      asset: code,
      decimals: signed.decimals,
      amount: balance.toString(),
      display: formatAmount(balance, signed.decimals),
    });
  }
  run.report.balances = balances;
}

/**
 * Verify a downloaded proof file offline (no network).
 * `proof` is the parsed JSON of a porsegregate-proof/1 file.
 */
export async function verifyProof(proof, accountId, code, options = {}) {
  const p = parseProofFile(proof);
  const run = new Run();
  try {
    const secret = await checkCode(run, code);
    const { attestation } = await checkAttestation(
      run,
      p.attestation,
      p.attestationSig,
      p.publicKeyPem,
      options.expectKey ?? null,
    );
    const keys = await deriveEpochKeys(secret, attestation.epochId);
    const entry = equalBytes(keys.lookup, p.lookup) ? p.entry : null;
    const bundle = await openBundle(run, attestation, keys, entry);
    run.report.proof = proofFileDoc(p);
    await checkBundle(run, attestation, keys, accountId, bundle);
  } catch (e) {
    if (!(e instanceof Failed)) throw e;
  }
  return run.finish();
}

async function fetchBytes(fetcher, base, relative, required = true) {
  const url = new URL(relative, base).href;
  let response;
  try {
    response = await fetcher(url, { credentials: "omit", cache: "no-cache" });
  } catch (e) {
    throw new SiteError(`cannot fetch ${relative}: ${e.message}`);
  }
  if (response.status === 404 && !required) return null;
  if (!response.ok) {
    throw new SiteError(
      response.status === 404
        ? `${relative} is missing; is this a porsegregate site?`
        : `${relative}: HTTP ${response.status}`,
    );
  }
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * Verify a client's inclusion against a published site. Fetches the signed
 * attestation and manifest and exactly one shard, chosen by the client's lookup id.
 */
export async function verifySite(base, accountId, code, options = {}) {
  const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  const [attestationData, signature, publicPem, manifestData, manifestSig] = await Promise.all(
    ["attestation.json", "attestation.json.sig", "custodian.pub.pem", "manifest.json", "manifest.json.sig"].map(
      (name) => fetchBytes(fetcher, base, name),
    ),
  );
  const pemText = new TextDecoder().decode(publicPem);
  const run = new Run();
  try {
    const secret = await checkCode(run, code);
    const { attestation, key } = await checkAttestation(
      run,
      attestationData,
      signature,
      pemText,
      options.expectKey ?? null,
    );
    if (!(await subtle().verify({ name: "Ed25519" }, key, manifestSig, manifestData))) {
      throw run.fail("manifest-signature", "manifest.json is not signed by the custodian key");
    }
    run.ok("manifest-signature", "the file manifest is signed by the custodian key");
    const manifest = parsedOrFail(run, "manifest-signature", "manifest.json", () =>
      parseManifest(manifestData),
    );
    if (manifest.attestationSha256 !== toHex(await sha256(attestationData))) {
      throw run.fail("manifest-attestation", "the manifest is for a different attestation");
    }
    run.ok("manifest-attestation", "the manifest is for this attestation");
    const keys = await deriveEpochKeys(secret, attestation.epochId);
    const shardPath = shardName(toHex(keys.lookup).slice(0, manifest.shardPrefixChars));
    const expected = Object.prototype.hasOwnProperty.call(manifest.files, shardPath)
      ? manifest.files[shardPath]
      : null;
    let entry = null;
    if (expected !== null) {
      const shard = await fetchBytes(fetcher, base, shardPath);
      if (toHex(await sha256(shard)) !== expected) {
        throw run.fail("shard-hash", `${shardPath} does not match the signed manifest: it was altered`);
      }
      run.ok("shard-hash", `${shardPath} matches the signed manifest`);
      const entries = parsedOrFail(run, "shard-hash", shardPath, () => decodeShard(shard));
      entry = entries.get(toHex(keys.lookup)) ?? null;
    }
    const bundle = await openBundle(run, attestation, keys, entry);
    run.report.proof = proofFileDoc({
      attestation: attestationData,
      attestationSig: signature,
      publicKeyPem: pemText,
      lookup: keys.lookup,
      entry,
    });
    await checkBundle(run, attestation, keys, accountId, bundle);
  } catch (e) {
    if (!(e instanceof Failed)) throw e;
  }
  return run.finish();
}

// ---------------------------------------------------------------- the page

function element(tag, text, className) {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  if (className) el.className = className;
  return el;
}

function showReport(app, report) {
  const overall = app.querySelector("#overall");
  const checks = app.querySelector("#checks");
  const tbody = app.querySelector("#balances tbody");
  const fingerprint = app.querySelector("#fingerprint");
  const download = app.querySelector("#download-proof");
  fingerprint.textContent = report.keyFingerprint ? formatFingerprint(report.keyFingerprint) : "unknown";
  checks.replaceChildren(
    ...report.checks.map((c) => {
      const li = element("li", undefined, c.ok ? "pass" : "fail");
      li.append(element("code", c.id));
      li.append(document.createTextNode(`${c.asset ? ` [${c.asset}]` : ""}: ${c.detail}`));
      return li;
    }),
  );
  tbody.replaceChildren(
    ...report.balances.map((b) => {
      const tr = element("tr");
      const th = element("th", b.asset);
      th.scope = "row";
      tr.append(th, element("td", `${b.display} ${b.asset}`));
      return tr;
    }),
  );
  app.querySelector("#balances").hidden = report.balances.length === 0;
  if (report.verified) {
    const who = report.custodian ? ` by ${report.custodian.name}` : "";
    overall.textContent =
      `Verified: your balances are included in the liabilities attested${who} for epoch ${report.epoch}.`;
    overall.className = "pass";
  } else {
    const f = report.failed;
    const detail = f.detail.charAt(0).toUpperCase() + f.detail.slice(1);
    overall.textContent = `NOT verified: check ${f.id}${f.asset ? ` (${f.asset})` : ""} failed. ${detail}.`;
    overall.className = "fail";
  }
  // Offer the proof once it is known to be this client's: as a record when it
  // verifies, and as evidence to show others when a later check fails.
  const own = report.proof !== null && report.checks.some((c) => c.id === "bundle-account" && c.ok);
  download.hidden = !own;
  download.textContent = report.verified ? "Download my proof" : "Download this proof (evidence)";
  download.proofBlob = null;
  if (own) {
    const blob = new Blob([JSON.stringify(report.proof, null, 2)], { type: "application/json" });
    download.dataset.epoch = report.epoch ?? "proof";
    download.proofBlob = blob;
  }
}

function showError(app, message) {
  const overall = app.querySelector("#overall");
  overall.textContent = `NOT verified: ${message}`;
  overall.className = "fail";
  app.querySelector("#checks").replaceChildren();
  app.querySelector("#balances tbody").replaceChildren();
  app.querySelector("#balances").hidden = true;
  app.querySelector("#fingerprint").textContent = "unknown";
  app.querySelector("#download-proof").hidden = true;
}

async function readProofFile(input) {
  const file = input.files && input.files[0];
  if (!file) return null;
  let doc;
  try {
    doc = JSON.parse(await file.text());
  } catch {
    throw new FormatError(`${file.name} is not a porsegregate proof file (not JSON)`);
  }
  return doc;
}

function wire(app) {
  const form = app.querySelector("#verify-form");
  const button = app.querySelector("#verify-button");
  const result = app.querySelector("#result");
  const download = app.querySelector("#download-proof");
  download.addEventListener("click", () => {
    if (!download.proofBlob) return;
    const url = URL.createObjectURL(download.proofBlob);
    const a = document.createElement("a");
    a.href = url;
    a.download = `porsegregate-proof-${download.dataset.epoch}.json`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const overall = app.querySelector("#overall");
    result.hidden = false;
    overall.textContent = "Checking…";
    overall.className = "pending";
    button.disabled = true;
    try {
      const accountId = app.querySelector("#account-id").value.trim();
      const code = app.querySelector("#code").value;
      const expectKey = app.querySelector("#expect-key").value.trim() || null;
      const proofDoc = await readProofFile(app.querySelector("#proof-file"));
      let report;
      if (proofDoc !== null) {
        report = await verifyProof(proofDoc, accountId, code, { expectKey });
      } else if (location.protocol === "file:") {
        throw new SiteError(
          "this page was opened from a file: choose your downloaded proof file under Advanced",
        );
      } else {
        report = await verifySite(new URL(".", location.href).href, accountId, code, { expectKey });
      }
      showReport(app, report);
    } catch (e) {
      showError(app, e instanceof Error ? e.message : String(e));
    } finally {
      button.disabled = false;
    }
  });
}

if (typeof document !== "undefined") {
  const app = document.getElementById("porverify-app");
  if (app) wire(app);
}
