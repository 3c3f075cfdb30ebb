// porverify.js: the in-browser verifier of porsegregate/1 and porsegregate/2 (docs/protocol.md):
// the attestation's format decides how its manifest, proof bundles and entries are read.
//
// ES module. Cryptography is WebCrypto (SHA-256, HMAC-free HKDF, AES-256-GCM, Ed25519)
// plus, for the reserves' secp256k1 proofs of control (EIP-191, BIP-137, BIP-322) and EIP-55
// checksums, the audited @noble/curves and @noble/hashes, vendored as site/vendor/noble.js
// (globalThis.porNoble; the pages inline it first); amounts are BigInt. It runs the same
// checks, with the same ids, as the Python verifier, and passes the same test vectors.
// The root hash and total of every asset come only from the signed attestation;
// the client's leaf is always rebuilt from their own account id and code.
// On a site, and on a downloaded porsegregate-proof/2 file (which carries the site's log files),
// it also checks the signed transparency log (RFC 9162 proofs over SHA-256:
// the attestation is its newest entry, and the log only grew since the checkpoint the
// client remembers), warns when the next attestation is overdue, and can check the
// client in every published epoch (verifyHistory), as Python's verify_site/verify_history,
// and checks every auditor's co-signature the site lists (auditors/index.json, section 14).
// When the attestation declares its legal entities and documents (`legal`), it checks that every
// wallet's holder is one of them (and no client wallet is the operating company's), that each
// published document has its signed hash, and warns of what changed since the previous epoch.
//
// The contract with the Python verifier is each check's id, asset and verdict (in the same
// order, so the same check fails), with what they establish: verified, the balances, the log
// checkpoint, next_due and overdue, and each auditor's fingerprint, name, verdict and time.
// The wording of details and warnings is this module's own, not Python's.
//
// It stays one file (the saved single-page verifier, verify.html, has it inline, so it never
// holds a closing script tag, an HTML comment opener or a NUL), in three parts, in this order:
//   PROTOCOL  the protocol's bytes and rules, with no verification flow and no DOM: bytes,
//             errors, primitives (WebCrypto), codes and keys (hashing, tree folding), binary
//             formats (bundle, shard), JSON documents (attestation, reserves and proofs of
//             control, legal entities and documents, manifest, proof file), the transparency
//             log, the auditors' documents (names, statements, index), amounts;
//   CHECKS    the verification flow: Run and the checks, verifyProof, fetching the site, the
//             log and freshness, client state, verifySite, verifyHistory, co-signatures,
//             reserves, legal entities and documents (and what changed since the last epoch);
//   PAGE      the DOM code (element, showReport ... wire), run only where there is a document.
//
// SPDX-License-Identifier: GPL-3.0-or-later

// =================================================================================================
// PROTOCOL
// The bytes and rules of porsegregate/1 and /2 (docs/protocol.md): what each file is, how it is
// hashed, signed and parsed, and what a well-formed one may hold. No verification flow, no
// fetching and no DOM: a parser here returns the parsed value or throws FormatError.
// =================================================================================================

// The domain label of every hash preimage and key derivation, in every protocol version: it
// names the hashing scheme, which porsegregate/2 kept (docs/protocol.md, notation).
export const VERSION = "porsegregate/1";
export const LABEL = VERSION;
// The format strings of published documents (attestation, manifest, bundle): both are read.
export const FORMAT_V1 = "porsegregate/1";
export const FORMAT_V2 = "porsegregate/2";
export const FORMATS = [FORMAT_V1, FORMAT_V2];
export const PROOF_FORMAT = "porsegregate-proof/2";
// Still read: a proof saved before the log was carried; its report warns that the log was not
// checked (docs/protocol.md section 10).
export const PROOF_FORMAT_1 = "porsegregate-proof/1";
const AMOUNT_BYTES = 16;
const MAX_AMOUNT = (1n << 128n) - 1n;
const MAX_HEIGHT = 64;
// porsegregate/2: a balance is split into at most this many parts (leaves).
const MAX_PARTS = 16;
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
const FORMAT_V2_BYTES = utf8.encode(FORMAT_V2);

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

// Unicode White_Space: what the PEM reader behind Python's `cryptography` (Rust's pem crate)
// removes from the base64 body.
const PEM_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/g;

/**
 * The DER of the first PEM block, read as Python's load_pem_public_key reads it (the pem
 * crate's `-----BEGIN (.*?)-----[ \t\n\r]*(.*?)-----END (.*?)-----`): text before or after the
 * block is ignored, RFC 1421 headers before a blank line are skipped, the labels must match,
 * and the first block must be a PUBLIC KEY.
 */
function pemToDer(pem) {
  const begin = pem.indexOf("-----BEGIN ");
  const labelEnd = begin < 0 ? -1 : pem.indexOf("-----", begin + 11);
  if (labelEnd < 0) throw new FormatError("not a PEM public key");
  const label = pem.slice(begin + 11, labelEnd);
  let at = labelEnd + 5;
  while (at < pem.length && " \t\n\r".includes(pem[at])) at++;
  const end = pem.indexOf("-----END ", at);
  const endLabelEnd = end < 0 ? -1 : pem.indexOf("-----", end + 9);
  if (endLabelEnd < 0 || label === "" || pem.slice(end + 9, endLabelEnd) !== label) {
    throw new FormatError("not a PEM public key");
  }
  let body = pem.slice(at, end);
  const blank = body.includes("\n\n") ? "\n\n" : body.includes("\r\n\r\n") ? "\r\n\r\n" : null;
  if (blank !== null) {
    const headers = body.slice(0, body.indexOf(blank)).split(/\r?\n/).filter((l) => l !== "");
    if (headers.some((l) => !l.includes(":"))) throw new FormatError("not a PEM public key");
    body = body.slice(body.indexOf(blank) + blank.length);
  }
  if (label !== "PUBLIC KEY") throw new FormatError("not a PEM public key");
  return fromBase64(body.replace(PEM_SPACE, ""), "the public key");
}

async function importEd25519(pem) {
  const der = pemToDer(pem);
  return subtle().importKey("spki", der, { name: "Ed25519" }, true, ["verify"]);
}

/** The error (not a verdict) of a browser whose WebCrypto has no Ed25519. */
function ed25519Unsupported() {
  return new Error("this browser cannot check Ed25519 signatures; use a current browser or `porsegregate verify`");
}

/** Ed25519 verification that treats a malformed signature as a bad one (like Python's). */
async function ed25519Verify(key, signature, data) {
  try {
    return await subtle().verify({ name: "Ed25519" }, key, signature, data);
  } catch (e) {
    if (e && e.name === "NotSupportedError") throw ed25519Unsupported();
    return false;
  }
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
  u16() {
    const at = this.pos;
    this.take(2);
    return this.view.getUint16(at);
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
  amount(width = AMOUNT_BYTES) {
    return bytesToBigInt(this.take(width));
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
const MAX_ASSETS_V2 = 65535;
const BUNDLE_MAGIC_V2 = utf8.encode("PSB2");
const SHARD_MAGIC = utf8.encode("PSS1");
const SHARD_MAGIC_V2 = utf8.encode("PSS2");
// porsegregate/2 shards: at most 32 entries a shard on average; at most 2^27 shards.
const SHARD_ENTRIES = 32;
const MAX_SHARD_BITS = 27;
const SHARD_LEAF = 0x06;
const SHARD_NODE = 0x07;
const LOOKUP_BYTES = 16;
// porsegregate/2: the account field is u8(length) || UTF-8 || zero bytes, 129 bytes in all.
const ACCOUNT_FIELD = 128;

/**
 * A decrypted proof bundle (protocol section 6). The attestation's format decides how it is
 * read: porsegregate/1 (PSB1, the default when `attestation` is omitted) or porsegregate/2
 * (PSB2, a fixed layout whose sizes come from the attestation: its number of assets, their
 * common padded_height and parts). A bundle of the other version is malformed.
 */
export function decodeBundle(bytes, attestation = null) {
  const format = attestation === null ? FORMAT_V1 : attestation.format;
  const magic = bytes.subarray(0, 4);
  if (format === FORMAT_V2) {
    if (equalBytes(magic, BUNDLE_MAGIC)) {
      throw new FormatError(`a ${FORMAT_V1} proof bundle under a ${FORMAT_V2} attestation`);
    }
    return decodeBundleV2(bytes, attestation);
  }
  if (equalBytes(magic, BUNDLE_MAGIC_V2)) {
    throw new FormatError(`a ${FORMAT_V2} proof bundle under a ${FORMAT_V1} attestation`);
  }
  const r = new Reader(bytes);
  if (!equalBytes(r.take(4), BUNDLE_MAGIC)) throw new FormatError("not a porsegregate proof bundle");
  const version = r.text("version");
  if (version !== FORMAT_V1) throw new FormatError(`unsupported bundle version ${JSON.stringify(version)}`);
  const epoch = r.text("epoch");
  const [accountId, accountIdBytes] = r.textAndBytes("account id");
  const assets = [];
  const assetCount = r.u8();
  if (assetCount === 0) throw new FormatError("the proof lists no asset");
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

/** porsegregate/2: the number of asset slots of a bundle for a client holding k of A assets. */
export function bundleSlots(k, assetCount) {
  let s = 1;
  while (s < k) s *= 2;
  return Math.min(assetCount, s);
}

/**
 * porsegregate/2: the bytes of one asset slot, for P parts of paths of height h, every amount
 * and sibling sum S bytes wide.
 */
export function slotBytes(parts, height, sumBytes) {
  return 2 + parts * (8 + sumBytes + (32 + sumBytes) * height);
}

/**
 * porsegregate/2's S: the byte length of the largest of the attestation's totals (BigInts),
 * at least 1. One width for every asset of an epoch, so a slot's size never tells its asset.
 */
export function sumBytes(totals) {
  let width = 1;
  for (const total of totals) {
    const bytes = Math.ceil(total.toString(16).replace(/^0$/, "").length / 2);
    if (bytes > width) width = bytes;
  }
  return width;
}

/**
 * A porsegregate/2 bundle: "PSB2" || lp("porsegregate/2") || lp(e) || account field (129
 * bytes) || u16(k) || u16(s) || k slots || (s - k) zero slots. Each slot is u16(j) then P
 * leaves (parts 0..P-1) of u64(i) || b[S] || h x (hash || sum[S]), S the attestation's sum
 * width (its largest total's byte length). A slot whose j is
 * not an asset of the attestation is read (its asset is "#<j>") and left to asset-known.
 */
function decodeBundleV2(bytes, attestation) {
  const A = attestation.assets.length;
  const h = attestation.height;
  const P = attestation.parts;
  const r = new Reader(bytes);
  if (!equalBytes(r.take(4), BUNDLE_MAGIC_V2)) throw new FormatError("not a porsegregate proof bundle");
  const version = r.text("version");
  if (version !== FORMAT_V2) throw new FormatError(`unsupported bundle version ${JSON.stringify(version)}`);
  const epoch = r.text("epoch");
  const field = r.take(1 + ACCOUNT_FIELD);
  const length = field[0];
  if (length < 1 || length > ACCOUNT_FIELD) {
    throw new FormatError(`the account id is ${length} bytes long, not 1 to ${ACCOUNT_FIELD}`);
  }
  const accountIdBytes = field.slice(1, 1 + length);
  let accountId;
  try {
    accountId = strictUtf8.decode(accountIdBytes);
  } catch {
    throw new FormatError("account id is not UTF-8");
  }
  if (field.subarray(1 + length).some((b) => b !== 0)) {
    throw new FormatError("the bytes after the account id are not all zero");
  }
  const k = r.u16();
  const s = r.u16();
  if (k < 1) throw new FormatError("the proof holds no asset");
  if (k > A || s !== bundleSlots(k, A)) {
    throw new FormatError(
      `the proof has ${s} slots for ${k} assets; a proof of ${k} of ${A} assets has ${k > A ? "none" : bundleSlots(k, A)}`,
    );
  }
  const S = attestation.sumBytes;
  const L = slotBytes(P, h, S);
  const expected = r.pos + s * L;
  if (bytes.length !== expected) {
    throw new FormatError(`the proof is ${bytes.length} bytes long; its layout is ${expected}`);
  }
  const assets = [];
  let last = -1;
  for (let slot = 0; slot < k; slot++) {
    const position = r.u16();
    // A position the attestation does not have: "#<position>", which no asset code can be.
    const named = (j) => (j < A ? attestation.assets[j].code : `#${j}`);
    if (position === last) throw new FormatError(`asset ${named(position)} is listed twice`);
    if (position < last) {
      throw new FormatError(`asset ${named(position)} is out of the attestation's order (after ${named(last)})`);
    }
    last = position;
    const leaves = [];
    for (let part = 0; part < P; part++) {
      const index = r.u64();
      const amount = r.amount(S);
      const siblings = [];
      for (let level = 0; level < h; level++) siblings.push([r.take(32), r.amount(S)]);
      leaves.push({ part, amount, index, siblings });
    }
    assets.push({ asset: named(position), position, leaves });
  }
  if (r.take((s - k) * L).some((b) => b !== 0)) throw new FormatError("the filler slots are not all zero");
  r.done();
  return { version, epoch, accountId, accountIdBytes, assets };
}

/**
 * Why a bundle's assets are not each listed once in the attestation's order, or null
 * (protocol sections 6 and 9). `attested` is the attestation's asset codes in its order; an
 * asset it does not list is left to the asset-known check.
 */
export function assetOrderProblem(bundle, attested) {
  const position = new Map(attested.map((code, i) => [code, i]));
  const seen = new Set();
  let last = -1;
  for (const { asset } of bundle.assets) {
    if (seen.has(asset)) return `asset ${asset} is listed twice`;
    seen.add(asset);
    const here = position.get(asset);
    if (here === undefined) continue;
    if (here < last) return `asset ${asset} is out of the attestation's order (after ${attested[last]})`;
    last = here;
  }
  return null;
}

/**
 * A shard file: Map from lookup hex to encrypted entry. Its lookups are strictly increasing
 * (sorted, no duplicates) and, when `prefix` (the shard's lowercase hex prefix) is given,
 * every one starts with it; a shard that breaks this is malformed (both versions).
 */
export function decodeShard(bytes, prefix = null) {
  const r = new Reader(bytes);
  if (!equalBytes(r.take(4), SHARD_MAGIC)) throw new FormatError("not a porsegregate shard file");
  const entries = new Map();
  const count = r.u32();
  let last = null;
  for (let i = 0; i < count; i++) {
    const lookup = toHex(r.take(LOOKUP_BYTES));
    if (last !== null && lookup <= last) {
      throw new FormatError(`lookup ${i} (${lookup}) is not after the one before it: unsorted or duplicated`);
    }
    if (prefix !== null && !lookup.startsWith(prefix)) {
      throw new FormatError(`lookup ${i} (${lookup}) does not start with the shard's prefix ${JSON.stringify(prefix)}`);
    }
    last = lookup;
    entries.set(lookup, r.take(r.u32()));
  }
  r.done();
  return entries;
}

/** The associated data of an entry: lp(format) || lp(e) || lookup (format: the attestation's). */
export function bundleAad(epoch, lookup, format = FORMAT_V1) {
  const version = format === FORMAT_V2 ? FORMAT_V2_BYTES : VERSION_BYTES;
  return concat(lp(version), lp(utf8.encode(epoch)), lookup);
}

export function shardName(lookupHexPrefix) {
  return `proofs/${lookupHexPrefix || "all"}.bin`;
}

/** porsegregate/2: the smallest b >= 0 with entries <= 32 x 2^b (the shard bits). */
export function shardBits(entries) {
  let b = 0;
  while (entries > SHARD_ENTRIES * 2 ** b) b++;
  return b;
}

/** porsegregate/2: the shard of a lookup id (16 bytes): its first `bits` bits. */
export function shardIndex(lookup, bits) {
  return Number(bytesToBigInt(lookup) >> BigInt(128 - bits));
}

/** porsegregate/2: shard `index` of 2^bits: ceil(bits/4) lowercase hex digits, or all.bin. */
export function shardFile(index, bits) {
  if (bits === 0) return "proofs/all.bin";
  return `proofs/${index.toString(16).padStart(Math.ceil(bits / 4), "0")}.bin`;
}

/** SHA-256(0x06 || lp(label) || lp(epoch) || u8 b || u32 index || body). */
export async function shardLeaf(epoch, bits, index, body) {
  const head = new Uint8Array(5);
  head[0] = bits;
  new DataView(head.buffer).setUint32(1, index);
  return sha256(concat(Uint8Array.of(SHARD_LEAF), lp(VERSION_BYTES), lp(utf8.encode(epoch)), head, body));
}

/** The root a shard's leaf folds to with its path (bit k of index: its side at level k). */
export async function shardRootOf(leaf, index, path) {
  let node = leaf;
  for (let level = 0; level < path.length; level++) {
    node = Math.floor(index / 2 ** level) % 2
      ? await sha256(concat(Uint8Array.of(SHARD_NODE), path[level], node))
      : await sha256(concat(Uint8Array.of(SHARD_NODE), node, path[level]));
  }
  return node;
}

/**
 * porsegregate/2: a PSS2 shard file, "PSS2" || u8 b || u32 index || b x 32-byte path (leaf
 * level first) || body, body = u32 count || (lookup || u32 length || entry)...; its lookups
 * strictly increasing, each in shard `index` (its first b bits). Returns
 * { bits, index, path, body, entries } (entries: Map from lookup hex to entry).
 */
export function decodeShardV2(bytes) {
  const r = new Reader(bytes);
  if (!equalBytes(r.take(4), SHARD_MAGIC_V2)) throw new FormatError("not a porsegregate/2 shard file");
  const bits = r.u8();
  if (bits > MAX_SHARD_BITS) throw new FormatError(`shard bits ${bits} is over ${MAX_SHARD_BITS}`);
  const index = r.u32();
  if (index >= 2 ** bits) throw new FormatError(`shard index ${index} is not below 2^${bits}`);
  const path = [];
  for (let level = 0; level < bits; level++) path.push(r.take(32));
  const bodyAt = r.pos;
  const entries = new Map();
  const count = r.u32();
  let last = null;
  for (let i = 0; i < count; i++) {
    const raw = r.take(LOOKUP_BYTES);
    const lookup = toHex(raw);
    if (last !== null && lookup <= last) {
      throw new FormatError(`lookup ${i} (${lookup}) is not after the one before it: unsorted or duplicated`);
    }
    if (shardIndex(raw, bits) !== index) throw new FormatError(`lookup ${i} (${lookup}) is not in shard ${index}`);
    last = lookup;
    entries.set(lookup, r.take(r.u32()));
  }
  r.done();
  return { bits, index, path, body: bytes.subarray(bodyAt), entries };
}

/**
 * porsegregate/2, check shard-hash: the shard served as `name` parses, is of the manifest's
 * shard bits, `name` is its index's file name, and its leaf folded with its path is the
 * manifest's shards root. Returns the problem, or null; and the shard when it parsed.
 */
export async function shardV2Problem(name, bytes, manifest, epoch) {
  let shard;
  try {
    shard = decodeShardV2(bytes);
  } catch (e) {
    if (e instanceof FormatError) return { shard: null, problem: `${name} is malformed: ${e.message}` };
    throw e;
  }
  if (shard.bits !== manifest.shardBits) {
    return { shard, problem: `${name} is a shard of ${shard.bits} bits; the signed manifest has ${manifest.shardBits}` };
  }
  const own = shardFile(shard.index, shard.bits);
  if (own !== name) {
    return { shard, problem: `${name} holds shard ${shard.index} (${own}): it is served under another shard's name` };
  }
  const root = await shardRootOf(await shardLeaf(epoch, shard.bits, shard.index, shard.body), shard.index, shard.path);
  if (toHex(root) !== manifest.shardsRoot) {
    return { shard, problem: `${name} with its path does not fold to the signed manifest's shards_root: it was altered` };
  }
  return { shard, problem: null };
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
    const name = { int: "an integer", dict: "an object", list: "an array", string: "a string", boolean: "a boolean" }[kind];
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
  if (typeof value === "string" && !wellFormedStrings(value)) {
    // RFC 8785 (and Python's rfc8785) refuse a lone surrogate: it has no UTF-8 form.
    throw new FormatError("a string holds a lone surrogate, which has no RFC 8785 form");
  }
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new FormatError("not a finite number");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  // Keys sorted by UTF-16 code units, which is what Array.prototype.sort does.
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${canonicalJson(k)}:${canonicalJson(value[k])}`).join(",")}}`;
}

/** Does every string in `value`, keys too, have a UTF-8 form (no lone surrogate)? */
function wellFormedStrings(value) {
  if (typeof value === "string") return value.isWellFormed ? value.isWellFormed() : !/\p{Cs}/u.test(value);
  if (Array.isArray(value)) return value.every(wellFormedStrings);
  if (isObject(value)) return Object.entries(value).every(([k, v]) => wellFormedStrings(k) && wellFormedStrings(v));
  return true;
}

/**
 * Signed documents must be exactly RFC 8785: one reading for every JSON parser
 * (no duplicate keys, no floats standing in for integers, no other spelling).
 */
function loadCanonical(bytes, what) {
  const doc = loadJson(bytes, what);
  let again;
  try {
    again = canonicalJson(doc);
  } catch (e) {
    if (e instanceof RangeError) throw new FormatError(`${what} is nested too deeply`);
    if (e instanceof FormatError) throw new FormatError(`${what} cannot be put in RFC 8785 canonical form: ${e.message}`);
    throw e;
  }
  if (!equalBytes(utf8.encode(again), bytes)) {
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

const ATTESTATION_MEMBERS = [
  "format",
  "generator",
  "custodian",
  "segregation",
  "epoch",
  "liabilities",
  "reserves",
  "previous_attestation_sha256",
  "witnesses",
  "legal",
];

/** attestation.json, parsed as strictly as the Python verifier parses it. */
export function parseAttestation(bytes) {
  const doc = loadCanonical(bytes, "attestation.json");
  const fmt = get(doc, "format", "string", "attestation");
  if (!FORMATS.includes(fmt)) {
    throw new FormatError(`attestation format ${JSON.stringify(fmt)} is not ${FORMATS.join(" or ")}`);
  }
  const v2 = fmt === FORMAT_V2;
  // Every object has exactly its members (witnesses and legal are optional).
  only(doc, ATTESTATION_MEMBERS, "attestation");
  const cust = get(doc, "custodian", "dict", "attestation");
  only(cust, ["name", "legal_entity"], "custodian");
  // The custodian's name is a line of every proof-of-control message.
  const nameProblem = textProblem(get(cust, "name", "string", "custodian"));
  if (nameProblem) throw new FormatError(`custodian.name ${nameProblem}`);
  const epoch = get(doc, "epoch", "dict", "attestation");
  only(epoch, ["id", "snapshot_time", "next_due"], "epoch");
  only(get(doc, "segregation", "dict", "attestation"), ["arrangement"], "segregation");
  const liab = get(doc, "liabilities", "dict", "attestation");
  only(liab, ["hash", "amount_bytes", "assets"], "liabilities");
  if (get(liab, "hash", "string", "liabilities") !== "SHA-256") {
    throw new FormatError("liabilities.hash must be SHA-256");
  }
  if (get(liab, "amount_bytes", "int", "liabilities") !== AMOUNT_BYTES) {
    throw new FormatError(`liabilities.amount_bytes must be ${AMOUNT_BYTES}`);
  }
  const assets = get(liab, "assets", "list", "liabilities").map((item, i) => {
    const where = `liabilities.assets[${i}]`;
    // porsegregate/2 adds `parts` (required); porsegregate/1 has none (rejected).
    const members = ["code", "decimals", "root", "total", "padded_height"];
    if (isObject(item)) only(item, v2 ? [...members, "parts"] : members, where);
    const root = get(item, "root", "string", where);
    if (!HEX64.test(root)) throw new FormatError(`${where}.root must be 64 lowercase hex digits`);
    const decimals = get(item, "decimals", "int", where);
    const height = get(item, "padded_height", "int", where);
    if (decimals < 0 || decimals > MAX_DECIMALS || height < (v2 ? 1 : 0) || height > MAX_HEIGHT) {
      throw new FormatError(`${where}: decimals or padded_height out of range`);
    }
    let parts = null;
    if (v2) {
      parts = get(item, "parts", "int", where);
      if (parts < 1 || parts > MAX_PARTS) throw new FormatError(`${where}.parts must be 1 to ${MAX_PARTS}`);
    }
    const code = get(item, "code", "string", where);
    if (!ASSET_RE.test(code)) throw new FormatError(`${where}: asset code ${JSON.stringify(code)} is malformed`);
    const total = parseUnits(get(item, "total", "string", where));
    return { code, decimals, root: fromHex(root), total, paddedHeight: height, parts };
  });
  // porsegregate/2: a bundle names an asset by a u16 position, so at most 65,535 assets.
  if (v2 && assets.length > MAX_ASSETS_V2) {
    throw new FormatError(`liabilities.assets: a porsegregate/2 attestation lists at most ${MAX_ASSETS_V2} assets`);
  }
  // porsegregate/2: one padded_height and one parts for every asset (the bundle's layout).
  if (v2 && assets.some((a) => a.paddedHeight !== assets[0].paddedHeight || a.parts !== assets[0].parts)) {
    throw new FormatError("liabilities.assets must all have the same padded_height and the same parts");
  }
  const codes = assets.map((a) => a.code);
  const sorted = [...new Set(codes)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (codes.length !== sorted.length || codes.some((c, i) => c !== sorted[i])) {
    throw new FormatError("liabilities.assets must be sorted by code without duplicates");
  }
  if (!Object.prototype.hasOwnProperty.call(doc, "previous_attestation_sha256")) {
    throw new FormatError("attestation.previous_attestation_sha256 is missing");
  }
  const prev = doc.previous_attestation_sha256;
  if (prev !== null && !(typeof prev === "string" && HEX64.test(prev))) {
    throw new FormatError("previous_attestation_sha256 must be null or 64 hex digits");
  }
  const snapshot = get(epoch, "snapshot_time", "string", "epoch");
  if (!TIME.test(snapshot)) throw new FormatError("epoch.snapshot_time must be YYYY-MM-DDTHH:MM:SSZ");
  // When the custodian promises the next attestation; both times have one fixed ASCII form, so
  // comparing the strings compares the times (as Python does).
  const nextDue = get(epoch, "next_due", "string", "epoch");
  if (!TIME.test(nextDue) || nextDue <= snapshot) {
    throw new FormatError("epoch.next_due must be YYYY-MM-DDTHH:MM:SSZ, after snapshot_time");
  }
  const epochId = get(epoch, "id", "string", "epoch");
  if (!EPOCH_RE.test(epochId)) throw new FormatError(`epoch id ${JSON.stringify(epochId)} is malformed`);
  return {
    format: fmt,
    // porsegregate/2: the common padded_height and parts of every asset (null in /1).
    height: v2 && assets.length ? assets[0].paddedHeight : null,
    parts: v2 && assets.length ? assets[0].parts : null,
    // porsegregate/2: S, the bytes of every amount and sibling sum in a slot (null in /1).
    sumBytes: v2 ? sumBytes(assets.map((a) => a.total)) : null,
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
    nextDue,
    reserves: parseReserves(get(doc, "reserves", "dict", "attestation"), assets),
    witnesses: parseWitnesses(isObject(doc) ? doc.witnesses : undefined),
    legal: parseLegal(isObject(doc) ? doc.legal : undefined),
  };
}

// ---------------------------------------------------------------- reserves (attestation section)

export const CATEGORIES = ["client_segregated", "client_dedicated", "proprietary", "third_party"];
const CLIENT_CATEGORIES = ["client_segregated", "client_dedicated"];
const CHAIN_KINDS = ["evm", "bitcoin", "ed25519"];
const PROOF_TYPES = { evm: ["eip191"], bitcoin: ["bip137", "bip322"], ed25519: ["ed25519"] };
const UNPROVEN = "none";
// Each kind's network in its one spelling (as Python's NETWORK_PATTERNS), so that one network
// has one name (T14); and the kinds whose network a node confirms (NETWORK_BOUND_KINDS): on an
// Ed25519 chain, whose network is only a name, a key is one wallet on every such entry.
const NETWORK_PATTERNS = {
  evm: /^[1-9][0-9]{0,15}$/,
  bitcoin: /^(?:mainnet|testnet|signet|regtest)$/,
  ed25519: /^[a-z0-9][a-z0-9._-]{0,63}$/,
};
const NETWORK_BOUND_KINDS = ["evm", "bitcoin"];
// The kinds whose balances a node can be asked for (as Python's READABLE_KINDS).
const READABLE_KINDS = ["evm", "bitcoin"];
const CHAIN_RE = /^[a-z0-9][a-z0-9._-]{0,31}$/;
const MAX_LABEL = 200;
const MAX_HEIGHT_BLOCK = 2 ** 53;
// The white space a text field (holder, address, network, auditor name...) may not begin or end
// with (docs/protocol.md sections 11 and 14): these 29 code points, no others. JS's trim()
// strips another set (U+FEFF, but not U+001C-U+001F or U+0085), so the set is spelt out.
const TEXT_SPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001,
  0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f,
  0x205f, 0x3000,
]);
const CONTROL_OR_BREAK = /[\p{Cc}\p{Cs}\p{Zl}\p{Zp}]/u;

/** The protocol orders text by Unicode code point (JS's < compares UTF-16 code units). */
function compareText(a, b) {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const cx = x[i].codePointAt(0);
    const cy = y[i].codePointAt(0);
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}

function compareTuples(a, b) {
  for (let i = 0; i < a.length; i++) {
    const c = typeof a[i] === "number" ? Math.sign(a[i] - b[i]) : compareText(a[i], b[i]);
    if (c !== 0) return c;
  }
  return 0;
}

/** Why a name that goes into a signed message line is unacceptable, or null (protocol.text_problem). */
function textProblem(text, limit = MAX_LABEL) {
  const points = [...text];
  const stripped =
    points.length > 0 &&
    !TEXT_SPACE.has(points[0].codePointAt(0)) &&
    !TEXT_SPACE.has(points[points.length - 1].codePointAt(0));
  if (!stripped) return "must be non-empty without leading or trailing spaces";
  if (points.length > limit) return `is longer than ${limit} characters`;
  if (CONTROL_OR_BREAK.test(text)) return "contains a control or line-break character";
  return null;
}

function optStr(obj, key, where) {
  if (!isObject(obj) || !Object.prototype.hasOwnProperty.call(obj, key)) {
    throw new FormatError(`${where}.${key} is missing`);
  }
  const value = obj[key];
  if (value === null) return null;
  if (typeof value !== "string" || [...value].length > MAX_TEXT) {
    throw new FormatError(`${where}.${key} must be null or a string of at most ${MAX_TEXT} chars`);
  }
  return value;
}

function units(obj, key, where) {
  const text = get(obj, key, "string", where);
  try {
    return parseUnits(text);
  } catch (e) {
    throw new FormatError(`${where}.${key}: ${e.message}`);
  }
}

function label(obj, key, where) {
  const value = get(obj, key, "string", where);
  const problem = textProblem(value);
  if (problem) throw new FormatError(`${where}.${key}: ${problem}`);
  return value;
}

// Proof types whose signature always reveals the signer's key (must be published).
const KEY_REVEALING = ["eip191", "bip137", "ed25519"];

/** Reject members a signed object must not have (the liabilities hash is rebuilt from fields). */
function only(obj, keys, where) {
  if (!isObject(obj)) return; // the member's own type check says what is wrong
  const extra = Object.keys(obj).filter((k) => !keys.includes(k)).sort();
  if (extra.length) throw new FormatError(`${where} has unknown member(s) ${extra.join(", ")}`);
}

function hexOrNull(value, length, where) {
  if (value !== null && !(/^(?:[0-9a-f]{2})+$/.test(value) && (length === null || value.length === length))) {
    throw new FormatError(`${where} must be lowercase hex${length ? ` of ${length} digits` : ""}`);
  }
  return value;
}

/** An explorer link template: null, or an https:// URL (nothing else may become a link). */
function explorerTemplate(explorer, key, where) {
  const value = optStr(explorer, key, where);
  if (value !== null && !value.startsWith("https://")) {
    throw new FormatError(`${where}.${key} must be null or an https:// URL template`);
  }
  return value;
}

/** floor(100 * numerator / denominator) to two decimals, as text; null when nothing is owed. */
export function percent(numerator, denominator) {
  if (denominator === 0n) return null;
  const basisPoints = (numerator * 10000n) / denominator;
  return `${basisPoints / 100n}.${(basisPoints % 100n).toString().padStart(2, "0")}`;
}

/** The smallest units of `asset` a wallet holds. */
function walletAmount(wallet, asset) {
  let sum = 0n;
  for (const h of wallet.holdings) if (h.asset === asset) sum += h.amount;
  return sum;
}

function walletSortKey(w) {
  return [CATEGORIES.indexOf(w.category), w.holder, w.chain, w.address];
}

const WALLET_MEMBERS = ["chain", "address", "category", "holder", "label", "client_tag", "holdings", "proof"];
const COVERAGE_MEMBERS = [
  "asset",
  "decimals",
  "liabilities",
  "client_segregated",
  "client_dedicated",
  "client_dedicated_counted",
  "third_party",
  "proprietary",
  "dedicated_shortfalls",
  "segregated_percent",
  "including_third_party_percent",
  "covered",
];

/** The attestation's reserves section, checked for shape and consistency as Python's parse_reserves. */
export function parseReserves(doc, assets) {
  const where = "reserves";
  only(doc, ["chains", "wallets", "coverage", "shortfall"], where);
  const chains = get(doc, "chains", "list", where).map((item, i) => {
    const w = `reserves.chains[${i}]`;
    only(item, ["id", "kind", "network", "block", "assets", "explorer"], w);
    const kind = get(item, "kind", "string", w);
    if (!CHAIN_KINDS.includes(kind)) {
      throw new FormatError(`${w}.kind ${JSON.stringify(kind)} is not one of ${CHAIN_KINDS.join(", ")}`);
    }
    const block = get(item, "block", "dict", w);
    only(block, ["height", "hash"], `${w}.block`);
    const height = get(block, "height", "int", `${w}.block`);
    if (height < 0 || height >= MAX_HEIGHT_BLOCK) throw new FormatError(`${w}.block.height is out of range`);
    const chainAssets = get(item, "assets", "list", w).map((a, j) => {
      const aw = `${w}.assets[${j}]`;
      only(a, ["code", "contract"], aw);
      const code = get(a, "code", "string", aw);
      if (!ASSET_RE.test(code)) throw new FormatError(`${aw}: asset code ${JSON.stringify(code)} is malformed`);
      return { code, contract: optStr(a, "contract", aw) };
    });
    if (new Set(chainAssets.map((a) => a.code)).size !== chainAssets.length) {
      throw new FormatError(`${w}.assets lists an asset twice`);
    }
    const explorer = get(item, "explorer", "dict", w);
    only(explorer, ["address", "block"], `${w}.explorer`);
    const explorerAddress = explorerTemplate(explorer, "address", `${w}.explorer`);
    const explorerBlock = explorerTemplate(explorer, "block", `${w}.explorer`);
    const id = get(item, "id", "string", w);
    if (!CHAIN_RE.test(id)) throw new FormatError(`${w}: chain id ${JSON.stringify(id)} is malformed`);
    const network = label(item, "network", w);
    if (!NETWORK_PATTERNS[kind].test(network)) {
      throw new FormatError(
        `${w}.network ${JSON.stringify(network)} is not a ${kind} network in its one spelling`,
      );
    }
    return {
      id,
      kind,
      network,
      blockHeight: height,
      blockHash: label(block, "hash", `${w}.block`),
      assets: chainAssets,
      explorerAddress,
      explorerBlock,
    };
  });
  for (let i = 1; i < chains.length; i++) {
    if (compareText(chains[i - 1].id, chains[i].id) >= 0) {
      throw new FormatError("reserves.chains must be sorted by id without duplicates");
    }
  }
  const byId = new Map(chains.map((c) => [c.id, c]));

  const wallets = get(doc, "wallets", "list", where).map((item, i) => {
    const w = `reserves.wallets[${i}]`;
    only(item, WALLET_MEMBERS, w);
    const chain = byId.get(get(item, "chain", "string", w));
    if (chain === undefined) throw new FormatError(`${w}.chain is not one of the listed chains`);
    const category = get(item, "category", "string", w);
    if (!CATEGORIES.includes(category)) {
      throw new FormatError(`${w}.category ${JSON.stringify(category)} is not one of ${CATEGORIES.join(", ")}`);
    }
    const tag = hexOrNull(optStr(item, "client_tag", w), 64, `${w}.client_tag`);
    if ((tag !== null) !== (category === "client_dedicated")) {
      throw new FormatError(`${w}: client_tag is required for, and only for, client_dedicated`);
    }
    const holdings = get(item, "holdings", "list", w).map((h, j) => {
      const hw = `${w}.holdings[${j}]`;
      only(h, ["asset", "amount", "source"], hw);
      const asset = get(h, "asset", "string", hw);
      if (!chain.assets.some((a) => a.code === asset)) {
        throw new FormatError(`${hw}.asset ${JSON.stringify(asset)} is not an asset of chain ${chain.id}`);
      }
      const source = get(h, "source", "string", hw);
      if (source !== "chain" && source !== "declared") {
        throw new FormatError(`${hw}.source must be 'chain' or 'declared'`);
      }
      if (source === "chain" && !READABLE_KINDS.includes(chain.kind)) {
        throw new FormatError(
          `${hw}.source is 'chain', but balances on ${chain.kind} chains are not read from a node: they are 'declared'`,
        );
      }
      return { asset, amount: units(h, "amount", hw), source };
    });
    for (let j = 1; j < holdings.length; j++) {
      if (compareText(holdings[j - 1].asset, holdings[j].asset) >= 0) {
        throw new FormatError(`${w}.holdings must be sorted by asset without duplicates`);
      }
    }
    const proof = get(item, "proof", "dict", w);
    only(proof, ["type", "signature", "public_key", "evidence"], `${w}.proof`);
    const type = get(proof, "type", "string", `${w}.proof`);
    const signature = optStr(proof, "signature", `${w}.proof`);
    const evidence = optStr(proof, "evidence", `${w}.proof`);
    const publicKey = hexOrNull(optStr(proof, "public_key", `${w}.proof`), null, `${w}.proof`);
    if (type === UNPROVEN) {
      if (signature !== null || publicKey !== null || !evidence) {
        throw new FormatError(`${w}.proof: an unproven wallet has evidence, and no signature or public key`);
      }
    } else if (!PROOF_TYPES[chain.kind].includes(type)) {
      throw new FormatError(`${w}.proof.type ${JSON.stringify(type)} is not a proof type for ${chain.kind}`);
    } else if (signature === null) {
      throw new FormatError(`${w}.proof.signature is missing`);
    } else if (publicKey === null && KEY_REVEALING.includes(type)) {
      // Commingling is checked on the key, which the verifiers check is the key that signed.
      throw new FormatError(`${w}.proof.public_key is missing (${type} reveals the key)`);
    }
    return {
      chain: chain.id,
      address: label(item, "address", w),
      category,
      holder: label(item, "holder", w),
      label: get(item, "label", "string", w),
      clientTag: tag === null ? null : fromHex(tag),
      holdings,
      proof: { type, signature, publicKey, evidence },
    };
  });
  for (let i = 1; i < wallets.length; i++) {
    if (compareTuples(walletSortKey(wallets[i - 1]), walletSortKey(wallets[i])) > 0) {
      throw new FormatError("reserves.wallets must be sorted by category, holder, chain, address");
    }
  }
  if (new Set(wallets.map((x) => JSON.stringify([x.chain, x.address]))).size !== wallets.length) {
    throw new FormatError("reserves.wallets lists the same chain and address twice");
  }

  const decimals = new Map(assets.map((a) => [a.code, a.decimals]));
  const coverage = get(doc, "coverage", "list", where).map((item, i) => {
    const w = `reserves.coverage[${i}]`;
    only(item, COVERAGE_MEMBERS, w);
    const asset = get(item, "asset", "string", w);
    if (!decimals.has(asset) || get(item, "decimals", "int", w) !== decimals.get(asset)) {
      throw new FormatError(`${w}: ${JSON.stringify(asset)} is not a liabilities asset, or its decimals differ`);
    }
    const shortfalls = get(item, "dedicated_shortfalls", "int", w);
    if (shortfalls < 0 || shortfalls >= MAX_HEIGHT_BLOCK) {
      throw new FormatError(`${w}.dedicated_shortfalls is out of range`);
    }
    const row = {
      asset,
      decimals: decimals.get(asset),
      liabilities: units(item, "liabilities", w),
      clientSegregated: units(item, "client_segregated", w),
      clientDedicated: units(item, "client_dedicated", w),
      clientDedicatedCounted: units(item, "client_dedicated_counted", w),
      thirdParty: units(item, "third_party", w),
      proprietary: units(item, "proprietary", w),
      dedicatedShortfalls: shortfalls,
    };
    // Dedicated wallets count only up to their own client's liability (counted, not held).
    row.segregated = row.clientSegregated + row.clientDedicatedCounted;
    row.covered = row.segregated >= row.liabilities && row.dedicatedShortfalls === 0;
    row.segregatedPercent = percent(row.segregated, row.liabilities);
    row.includingThirdPartyPercent = percent(row.segregated + row.thirdParty, row.liabilities);
    // The derived fields must be what the figures say: no page can show a rounder number.
    if (optStr(item, "segregated_percent", w) !== row.segregatedPercent) {
      throw new FormatError(`${w}.segregated_percent does not match its figures`);
    }
    if (optStr(item, "including_third_party_percent", w) !== row.includingThirdPartyPercent) {
      throw new FormatError(`${w}.including_third_party_percent does not match its figures`);
    }
    if (get(item, "covered", "boolean", w) !== row.covered) {
      throw new FormatError(`${w}.covered does not match its figures`);
    }
    return row;
  });
  const wanted = [...decimals.keys()].sort(compareText);
  if (coverage.length !== wanted.length || coverage.some((c, i) => c.asset !== wanted[i])) {
    throw new FormatError("reserves.coverage must list every liabilities asset once, sorted");
  }
  for (const c of coverage) {
    if (c.liabilities !== assets.find((a) => a.code === c.asset).total) {
      throw new FormatError(`reserves.coverage ${c.asset}: liabilities differ from the signed total`);
    }
  }
  const shortfall = coverage.some((c) => !c.covered);
  if (get(doc, "shortfall", "boolean", where) !== shortfall) {
    throw new FormatError("reserves.shortfall does not match the coverage rows");
  }
  return { chains, wallets, coverage, shortfall };
}

// ---------------------------------------------------------------- legal entities and documents (attestation section)

// The legal side of segregation (the optional `legal` member): who holds client assets, in what
// capacity, under which documents. Absent means none declared (one spelling: never null).
export const ROLES = [
  "custodian",
  "trustee",
  "bankruptcy_remote_vehicle",
  "sub_custodian",
  "operating_company",
  "nominee",
  "other",
];
export const DOCUMENT_KINDS = ["trust_deed", "custody_agreement", "legal_opinion", "sub_custody_agreement", "other"];
// The custodian's own operating company: never the protective holder of client assets.
const OPERATING_COMPANY = "operating_company";
const MAX_ENTITIES = 100;
const MAX_DOCUMENTS = 100;
const MAX_REGISTRATION = 100;
const JURISDICTION_RE = /^[A-Z]{2}(-[A-Z0-9]{1,3})?$/;
const LEI_RE = /^[0-9A-Z]{18}[0-9]{2}$/;
const DATE_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
const DOCUMENT_DIR = "documents/";
const DOCUMENT_EXT_RE = /^(\.[a-z0-9]{1,8})?$/;
const ENTITY_MEMBERS = ["jurisdiction", "lei", "name", "registration", "role"];
const DOCUMENT_MEMBERS = ["binds", "date", "file", "kind", "sha256", "title"];

/** Why `lei` is not an ISO 17442 LEI (20 characters, ISO 7064 MOD 97-10 check digits), or null. */
export function leiProblem(lei) {
  if (typeof lei !== "string" || !LEI_RE.test(lei)) {
    return "must be 20 characters 0-9 or A-Z, the last two digits (ISO 17442)";
  }
  // The 20 characters as one decimal number (A=10 ... Z=35), mod 97, digit by digit.
  let remainder = 0;
  for (const ch of lei) {
    const value = parseInt(ch, 36);
    remainder = (remainder * (value < 10 ? 10 : 100) + value) % 97;
  }
  return remainder === 1 ? null : "its check digits are wrong (ISO 7064 MOD 97-10): a mistyped LEI";
}

/** Is `text` a date YYYY-MM-DD that exists in the proleptic Gregorian calendar (year 1 to 9999)? */
export function isCalendarDate(text) {
  const m = typeof text === "string" ? DATE_RE.exec(text) : null;
  if (m === null) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return day <= days;
}

function oneOf(obj, key, values, where) {
  const value = get(obj, key, "string", where);
  if (!values.includes(value)) {
    throw new FormatError(`${where}.${key} ${JSON.stringify(value)} is not one of ${values.join(", ")}`);
  }
  return value;
}

function textOrNull(obj, key, limit, where) {
  const value = optStr(obj, key, where);
  if (value === null) return null;
  const problem = textProblem(value, limit);
  if (problem) throw new FormatError(`${where}.${key}: ${problem}`);
  return value;
}

function exactMembers(obj, keys, where) {
  if (!isObject(obj)) throw new FormatError(`${where} must be an object`);
  only(obj, keys, where);
  for (const key of keys) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) throw new FormatError(`${where}.${key} is missing`);
  }
}

function parseEntity(item, where) {
  exactMembers(item, ENTITY_MEMBERS, where);
  const name = get(item, "name", "string", where);
  const nameProblem = textProblem(name);
  if (nameProblem) throw new FormatError(`${where}.name: ${nameProblem}`);
  const role = oneOf(item, "role", ROLES, where);
  const jurisdiction = get(item, "jurisdiction", "string", where);
  if (!JURISDICTION_RE.test(jurisdiction)) {
    throw new FormatError(
      `${where}.jurisdiction ${JSON.stringify(jurisdiction)} is not an ISO 3166-1 alpha-2 code ` +
        "(optionally -subdivision, as GB or US-DE)",
    );
  }
  const lei = optStr(item, "lei", where);
  if (lei !== null) {
    const problem = leiProblem(lei);
    if (problem) throw new FormatError(`${where}.lei ${JSON.stringify(lei)}: ${problem}`);
  }
  const registration = textOrNull(item, "registration", MAX_REGISTRATION, where);
  if (lei === null && registration === null) {
    throw new FormatError(`${where}: an entity needs an lei or a registration (or both)`);
  }
  return { name, role, jurisdiction, lei, registration };
}

function parseDocument(item, where, declared) {
  exactMembers(item, DOCUMENT_MEMBERS, where);
  const title = get(item, "title", "string", where);
  const titleProblem = textProblem(title);
  if (titleProblem) throw new FormatError(`${where}.title: ${titleProblem}`);
  const kind = oneOf(item, "kind", DOCUMENT_KINDS, where);
  const date = get(item, "date", "string", where);
  if (!isCalendarDate(date)) {
    throw new FormatError(`${where}.date ${JSON.stringify(date)} is not a calendar date YYYY-MM-DD`);
  }
  const binds = get(item, "binds", "list", where);
  if (binds.length === 0) throw new FormatError(`${where}.binds must name at least one entity`);
  binds.forEach((name, k) => {
    if (typeof name !== "string") throw new FormatError(`${where}.binds[${k}] must be a string`);
    if (!declared.has(name)) {
      throw new FormatError(`${where}.binds[${k}] ${JSON.stringify(name)} is not a declared entity`);
    }
    if (k > 0 && compareText(binds[k - 1], name) >= 0) {
      throw new FormatError(`${where}.binds must be sorted by name without duplicates`);
    }
  });
  const sha = get(item, "sha256", "string", where);
  if (!HEX64.test(sha)) throw new FormatError(`${where}.sha256 must be 64 lowercase hex digits`);
  const file = optStr(item, "file", where);
  if (file !== null && !(file.startsWith(`${DOCUMENT_DIR}${sha}`) && DOCUMENT_EXT_RE.test(file.slice(DOCUMENT_DIR.length + 64)))) {
    throw new FormatError(
      `${where}.file ${JSON.stringify(file)} must be null or documents/<its sha256><extension> ` +
        "(an extension is a dot and 1 to 8 of a-z 0-9)",
    );
  }
  return { title, kind, date, binds: [...binds], sha256: sha, file };
}

/**
 * The attestation's optional `legal` member (docs/protocol.md): {entities, documents}, or null
 * when it is absent. `doc` is the member's value, undefined when absent.
 */
export function parseLegal(doc) {
  if (doc === undefined) return null;
  exactMembers(doc, ["documents", "entities"], "legal");
  const list = get(doc, "entities", "list", "legal");
  if (list.length < 1 || list.length > MAX_ENTITIES) {
    throw new FormatError(`legal.entities must list 1 to ${MAX_ENTITIES} entities`);
  }
  const entities = list.map((item, i) => parseEntity(item, `legal.entities[${i}]`));
  for (let i = 1; i < entities.length; i++) {
    const order = compareText(entities[i - 1].name, entities[i].name);
    if (order === 0) {
      throw new FormatError(`legal.entities[${i}].name ${JSON.stringify(entities[i].name)} is declared twice`);
    }
    if (order > 0) {
      throw new FormatError(`legal.entities must be sorted by name (code point order): entities[${i}] is out of place`);
    }
  }
  const declared = new Set(entities.map((e) => e.name));
  const docs = get(doc, "documents", "list", "legal");
  if (docs.length > MAX_DOCUMENTS) throw new FormatError(`legal.documents must list at most ${MAX_DOCUMENTS} documents`);
  const documents = docs.map((item, i) => parseDocument(item, `legal.documents[${i}]`, declared));
  const first = new Map();
  documents.forEach((d, i) => {
    if (i > 0 && compareTuples([documents[i - 1].date, documents[i - 1].title], [d.date, d.title]) > 0) {
      throw new FormatError(`legal.documents must be sorted by date, then title: documents[${i}] is out of place`);
    }
    if (first.has(d.sha256)) {
      throw new FormatError(`legal.documents[${i}].sha256 is the sha256 of legal.documents[${first.get(d.sha256)}] too`);
    }
    first.set(d.sha256, i);
  });
  return { entities, documents };
}

// ---------------------------------------------------------------- reserves (proofs of control and coverage)

const BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const BASE58_RE = /^[1-9A-HJ-NP-Za-km-z]+$/;
const HEX_SIGNATURE_RE = /^(?:0x)?[0-9a-fA-F]{128}$/;
const DEDICATED = 0x05;
const MESSAGE_TITLE = "porsegregate proof of control";

/** Base58 (Bitcoin alphabet, as Solana addresses and signatures use it): an encoding, not crypto. */
export function fromBase58(text) {
  if (typeof text !== "string" || !BASE58_RE.test(text)) throw new FormatError("not base58");
  let zeros = 0;
  while (zeros < text.length && text[zeros] === "1") zeros++;
  let value = 0n;
  for (let i = zeros; i < text.length; i++) value = value * 58n + BigInt(BASE58_ALPHABET.indexOf(text[i]));
  const tail = [];
  while (value > 0n) {
    tail.push(Number(value & 0xffn));
    value >>= 8n;
  }
  return concat(new Uint8Array(zeros), Uint8Array.from(tail.reverse()));
}

/** The tag binding a client_dedicated wallet to one client; only that client's code opens it. */
export async function dedicatedTag(epoch, nonce, accountId, chain, address) {
  return sha256(
    concat(
      Uint8Array.of(DEDICATED),
      lp(VERSION_BYTES),
      lp(utf8.encode(epoch)),
      nonce,
      lp(utf8.encode(accountId)),
      lp(utf8.encode(chain)),
      lp(utf8.encode(address)),
    ),
  );
}

/** The exact text a wallet key signs: ten lines joined by "\n", no trailing newline. */
export function controlMessage({ custodian, fingerprint, epoch, liabilitiesSha256, chain, address, category, holder, clientTag }) {
  return [
    `${MESSAGE_TITLE} (${VERSION})`,
    `custodian: ${custodian}`,
    `custodian key: ${fingerprint}`,
    `epoch: ${epoch}`,
    `liabilities: ${liabilitiesSha256}`,
    `chain: ${chain}`,
    `address: ${address}`,
    `category: ${category}`,
    `holder: ${holder}`,
    `client: ${clientTag ? toHex(clientTag) : "none"}`,
  ].join("\n");
}

/**
 * What proof-of-control messages bind: SHA-256 of the canonical liabilities section, rebuilt
 * from the parsed figures as Python's liabilities_sha256 does (so an unknown extra field in
 * the signed section is not hashed, exactly as in Python).
 */
export async function liabilitiesSha256(assets) {
  const section = {
    hash: "SHA-256",
    amount_bytes: AMOUNT_BYTES,
    assets: [...assets]
      .sort((a, b) => compareText(a.code, b.code))
      .map((a) => ({
        code: a.code,
        decimals: a.decimals,
        root: toHex(a.root),
        total: a.total.toString(),
        padded_height: a.paddedHeight,
        // porsegregate/2 asset objects include `parts`.
        ...(a.parts === null || a.parts === undefined ? {} : { parts: a.parts }),
      })),
  };
  return toHex(await sha256(utf8.encode(canonicalJson(section))));
}

/** A control signature that cannot be parsed or does not verify; the message says why. */
class SignatureError extends Error {}

function ed25519PublicKey(address) {
  if (!BASE58_RE.test(address) || address.length > 50) {
    throw new SignatureError(`${JSON.stringify(address)} is not a base58 Ed25519 address`);
  }
  const raw = fromBase58(address);
  if (raw.length !== 32) {
    throw new SignatureError(`${JSON.stringify(address)} decodes to ${raw.length} bytes, not a 32-byte public key`);
  }
  return raw;
}

function ed25519Signature(signature) {
  if (HEX_SIGNATURE_RE.test(signature)) return fromHex(signature.replace(/^0x/, "").toLowerCase());
  if (BASE58_RE.test(signature) && signature.length <= 100) {
    const raw = fromBase58(signature);
    if (raw.length === 64) return raw;
  }
  throw new SignatureError("an Ed25519 signature is 64 bytes, in base58 or 128 hex digits");
}

/** The 32-byte key that signed `message` for a base58 Ed25519 address; SignatureError otherwise. */
export async function verifyEd25519Control(message, address, signature) {
  const rawKey = ed25519PublicKey(address);
  const sig = ed25519Signature(signature);
  let key;
  try {
    key = await subtle().importKey("raw", rawKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (e) {
    if (e && e.name === "NotSupportedError") throw ed25519Unsupported();
    throw new SignatureError(`${address} is not a valid Ed25519 public key`);
  }
  let good;
  try {
    good = await subtle().verify({ name: "Ed25519" }, key, sig, utf8.encode(message));
  } catch (e) {
    if (e && e.name === "NotSupportedError") throw ed25519Unsupported();
    good = false;
  }
  if (!good) throw new SignatureError(`the Ed25519 signature does not verify for ${address}`);
  return rawKey;
}

/** An address the chain would not accept; the message says why. */
class AddressError extends Error {}

const BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const BECH32_GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
const BECH32M_CONST = 0x2bc830a3;
// Bitcoin's networks: Base58Check version bytes of P2PKH and P2SH, and the bech32 prefix.
const BITCOIN_NETWORKS = {
  mainnet: { p2pkh: 0x00, p2sh: 0x05, hrp: "bc" },
  testnet: { p2pkh: 0x6f, p2sh: 0xc4, hrp: "tb" },
  signet: { p2pkh: 0x6f, p2sh: 0xc4, hrp: "tb" },
  regtest: { p2pkh: 0x6f, p2sh: 0xc4, hrp: "bcrt" },
};

function bech32Polymod(values) {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= BECH32_GENERATOR[i];
  }
  return chk >>> 0;
}

/** The output script a segwit (BIP-173/BIP-350) address pays. */
function segwitScript(address, net) {
  const shown = JSON.stringify(address);
  if (address.toLowerCase() !== address && address.toUpperCase() !== address) {
    throw new AddressError(`address ${shown} mixes upper and lower case`);
  }
  const text = address.toLowerCase();
  if (text.length > 90) throw new AddressError(`address ${shown} is too long for bech32`);
  const sep = text.lastIndexOf("1");
  const hrp = text.slice(0, sep);
  if (hrp !== net.hrp) throw new AddressError(`address ${shown} is for another network`);
  const values = [...text.slice(sep + 1)].map((c) => BECH32_CHARSET.indexOf(c));
  if (values.length < 7 || values.includes(-1)) throw new AddressError(`address ${shown} is not bech32`);
  const version = values[0];
  const expanded = [...hrp].map((c) => c.charCodeAt(0) >> 5);
  expanded.push(0, ...[...hrp].map((c) => c.charCodeAt(0) & 31));
  const check = bech32Polymod([...expanded, ...values]);
  if (version > 16 || check !== (version === 0 ? 1 : BECH32M_CONST)) {
    throw new AddressError(`address ${shown} has a bad checksum`);
  }
  let acc = 0;
  let bits = 0;
  const program = [];
  for (const v of values.slice(1, -6)) {
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      program.push((acc >> bits) & 0xff);
    }
    acc &= (1 << bits) - 1;
  }
  if (bits >= 5 || acc !== 0) throw new AddressError(`address ${shown} has invalid padding`);
  const known = version === 0 ? program.length === 20 || program.length === 32 : version === 1 && program.length === 32;
  if (!known) throw new AddressError(`address ${shown} is of an unknown type (not P2WPKH, P2WSH or P2TR)`);
  return concat(Uint8Array.of(version === 0 ? 0 : 0x50 + version, program.length), Uint8Array.from(program));
}

/** The output script (scriptPubKey) a P2PKH, P2SH, P2WPKH, P2WSH or P2TR address pays. */
async function bitcoinScript(address, network) {
  const net = BITCOIN_NETWORKS[network];
  if (net === undefined) throw new AddressError(`unknown Bitcoin network ${JSON.stringify(network)}`);
  if (typeof address !== "string" || address.length === 0 || address.length > 100) {
    throw new AddressError(`${JSON.stringify(address)} is not a Bitcoin address`);
  }
  const lower = address.toLowerCase();
  if (Object.values(BITCOIN_NETWORKS).some((n) => lower.startsWith(`${n.hrp}1`))) {
    return segwitScript(address, net);
  }
  let raw;
  try {
    raw = fromBase58(address);
  } catch {
    throw new AddressError(`address ${JSON.stringify(address)} is neither bech32 nor Base58`);
  }
  const digest = await sha256(await sha256(raw.subarray(0, raw.length - 4)));
  if (raw.length !== 25 || !equalBytes(digest.subarray(0, 4), raw.subarray(21))) {
    throw new AddressError(`address ${JSON.stringify(address)} has a bad checksum or length`);
  }
  const hash = raw.subarray(1, 21);
  if (raw[0] === net.p2pkh) return concat(Uint8Array.of(0x76, 0xa9, 0x14), hash, Uint8Array.of(0x88, 0xac));
  if (raw[0] === net.p2sh) return concat(Uint8Array.of(0xa9, 0x14), hash, Uint8Array.of(0x87));
  throw new AddressError(`address ${JSON.stringify(address)} is not a ${network} address`);
}

/**
 * A wallet as the chain sees it (T14): kind, network, then the Bitcoin output script, the EVM
 * address (its EIP-55 checksum checked when it has one) or the Ed25519 key, as Python's
 * chains.wallet_identity.
 */
export async function walletIdentity(chain, address) {
  let seen;
  if (chain.kind === "bitcoin") {
    seen = toHex(await bitcoinScript(address, chain.network));
  } else if (chain.kind === "evm") {
    seen = normalizeEvmAddress(address).slice(2).toLowerCase();
  } else {
    try {
      seen = toHex(ed25519PublicKey(address));
    } catch (e) {
      throw new AddressError(e.message);
    }
  }
  return `${chain.kind}:${NETWORK_BOUND_KINDS.includes(chain.kind) ? chain.network : "*"}:${seen}`;
}

// ---------------------------------------------------------------- secp256k1 (EIP-191, BIP-137, BIP-322)
// The elliptic-curve code is the audited @noble/curves and @noble/hashes, vendored as
// site/vendor/noble.js (globalThis.porNoble), which the pages inline before this script.

function noble() {
  const n = globalThis.porNoble;
  if (!n) {
    throw new Error(
      "this verifier's secp256k1 code (site/vendor/noble.js) is not loaded; use the published page or `porsegregate verify`",
    );
  }
  return n;
}

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HEX_DIGIT_RE = /[0-9a-fA-F]/;

function shown(text, limit = 80) {
  const s = JSON.stringify(String(text));
  return s.length <= limit ? s : `${s.slice(0, limit - 3)}...`;
}

/** EIP-55: uppercase each letter whose nibble in keccak256(lowercase hex) is >= 8. */
function checksummedAddress(hex40) {
  const lower = hex40.toLowerCase();
  const digest = toHex(noble().keccak256(utf8.encode(lower)));
  return `0x${[...lower].map((c, i) => (/[a-f]/.test(c) && parseInt(digest[i], 16) >= 8 ? c.toUpperCase() : c)).join("")}`;
}

/** The EIP-55 checksummed form of an EVM address, as Python's chains.evm.normalize_address. */
export function normalizeEvmAddress(address) {
  if (typeof address !== "string") throw new AddressError("EVM address must be text");
  if (address !== address.trim()) {
    throw new AddressError(`EVM address ${shown(address)} has spaces or line breaks around it; remove them`);
  }
  if (!address.startsWith("0x")) {
    throw new AddressError(
      `EVM address ${shown(address)} must start with '0x' (lowercase) followed by 40 hexadecimal digits`,
    );
  }
  const digits = address.slice(2);
  const bad = [...digits].find((c) => !HEX_DIGIT_RE.test(c));
  if (bad !== undefined) {
    throw new AddressError(`EVM address ${shown(address)} contains '${bad}', which is not a hexadecimal digit (0-9, a-f)`);
  }
  if (digits.length !== 40) {
    throw new AddressError(
      `EVM address ${shown(address)} has ${digits.length} hexadecimal digits after '0x'; an address has exactly 40`,
    );
  }
  const checksummed = checksummedAddress(digits);
  if (digits === digits.toLowerCase() || digits === digits.toUpperCase() || address === checksummed) return checksummed;
  throw new AddressError(
    `EVM address ${shown(address)} has mixed upper and lower case, but the case does not match its ` +
      "EIP-55 checksum: the address was probably mistyped or altered",
  );
}

function evmSignature(signature) {
  if (typeof signature !== "string") throw new SignatureError("signature must be text");
  if (!signature.startsWith("0x")) {
    throw new SignatureError(
      `signature must be '0x' followed by 130 hexadecimal digits (65 bytes: r, s, v); got ${shown(signature)}`,
    );
  }
  const digits = signature.slice(2);
  const bad = [...digits].find((c) => !HEX_DIGIT_RE.test(c));
  if (bad !== undefined) throw new SignatureError(`signature contains '${bad}', which is not a hexadecimal digit`);
  if (digits.length !== 130) {
    throw new SignatureError(
      `signature has ${digits.length} hexadecimal digits after '0x'; a personal_sign signature has exactly 130 (65 bytes: r, s, v)`,
    );
  }
  const raw = fromHex(digits.toLowerCase());
  const r = bytesToBigInt(raw.subarray(0, 32));
  const s = bytesToBigInt(raw.subarray(32, 64));
  let v = raw[64];
  if (v === 27 || v === 28) v -= 27;
  else if (v !== 0 && v !== 1) throw new SignatureError(`signature recovery byte v is ${v}; expected 27 or 28 (or 0 or 1)`);
  if (!(r >= 1n && r < SECP256K1_N && s >= 1n && s < SECP256K1_N)) {
    throw new SignatureError("signature r or s is out of range (zero or not below the curve order)");
  }
  if (s > SECP256K1_N / 2n) {
    throw new SignatureError(
      "signature s is in the upper half of the curve order (a non-canonical, malleated signature, rejected as in EIP-2)",
    );
  }
  return concat(Uint8Array.of(v), raw.subarray(0, 64));
}

function evmAddressOf(publicKey) {
  const point = noble().pointFromBytes(publicKey).toBytes(false);
  return checksummedAddress(toHex(noble().keccak256(point.subarray(1)).subarray(12)));
}

/**
 * An EIP-191 personal_sign signature of the UTF-8 message by the address, as Python's
 * chains.evm.verify_personal_sign: the signer's 33-byte compressed key; AddressError or
 * SignatureError otherwise.
 */
export function verifyEip191(message, address, signature) {
  const declared = normalizeEvmAddress(address);
  const sig = evmSignature(signature);
  const data = utf8.encode(message);
  const digest = noble().keccak256(concat(utf8.encode(`\x19Ethereum Signed Message:\n${data.length}`), data));
  let publicKey;
  try {
    publicKey = noble().recoverPublicKey(sig, digest);
  } catch (e) {
    throw new SignatureError(`signature does not recover to any public key (${e && e.message})`);
  }
  const recovered = evmAddressOf(publicKey);
  if (recovered !== declared) {
    throw new SignatureError(
      `signature was made by ${recovered}, not by the declared address ${declared} ` +
        "(wrong message or account, or an altered signature)",
    );
  }
  return publicKey;
}

function sha256d(bytes) {
  return noble().sha256(noble().sha256(bytes));
}

function hash160(bytes) {
  return noble().ripemd160(noble().sha256(bytes));
}

function taggedHash(tag, data) {
  const t = noble().sha256(utf8.encode(tag));
  return noble().sha256(concat(t, t, data));
}

function compactSize(n) {
  if (n < 0xfd) return Uint8Array.of(n);
  if (n <= 0xffff) return Uint8Array.of(0xfd, n & 0xff, n >> 8);
  return Uint8Array.of(0xfe, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24);
}

/** What kind of address an output script is (Python's decoded.kind). */
function scriptKind(script) {
  if (script.length === 25 && script[0] === 0x76) return "p2pkh";
  if (script.length === 23 && script[0] === 0xa9) return "p2sh";
  if (script.length === 22 && script[0] === 0x00) return "p2wpkh";
  if (script.length === 34 && script[0] === 0x00) return "p2wsh";
  return "p2tr";
}

function strictBase64(signature) {
  if (typeof signature !== "string") throw new SignatureError("malformed signature: not a base64 string");
  const text = signature.trim();
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    throw new SignatureError("malformed signature: not base64");
  }
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

const BIP137_MAGIC = utf8.encode("Bitcoin Signed Message:\n");
const HEADER_KINDS = ["p2pkh-uncompressed", "p2pkh", "p2sh-p2wpkh", "p2wpkh"];
const ACCEPTED_HEADERS = {
  p2pkh: ["p2pkh-uncompressed", "p2pkh"],
  p2sh: ["p2sh-p2wpkh", "p2pkh"],
  p2wpkh: ["p2wpkh", "p2pkh"],
};

function p2pkhScript(hash) {
  return concat(Uint8Array.of(0x76, 0xa9, 0x14), hash, Uint8Array.of(0x88, 0xac));
}

function p2wpkhScript(hash) {
  return concat(Uint8Array.of(0x00, 0x14), hash);
}

function p2shScript(hash) {
  return concat(Uint8Array.of(0xa9, 0x14), hash, Uint8Array.of(0x87));
}

/**
 * A BIP-137 (signmessage) signature, as Python's chains.bitcoin.verify_bip137, Electrum's
 * header 31-34 for segwit addresses included: the signer's 33-byte compressed key.
 */
export async function verifyBip137(message, address, signature, network) {
  const script = await bitcoinScript(address, network);
  const kind = scriptKind(script);
  if (!(kind in ACCEPTED_HEADERS)) {
    throw new SignatureError(`BIP-137 cannot prove control of a ${kind} address; use BIP-322`);
  }
  const raw = strictBase64(signature);
  if (raw.length !== 65) throw new SignatureError(`malformed signature: expected 65 bytes, got ${raw.length}`);
  const header = raw[0];
  if (header < 27 || header > 42) throw new SignatureError(`malformed signature: header byte ${header} is outside 27-42`);
  const claimed = HEADER_KINDS[(header - 27) >> 2];
  if (!ACCEPTED_HEADERS[kind].includes(claimed)) {
    throw new SignatureError(
      `the signature's header byte ${header} claims a ${claimed} address, but ${address} is ` +
        `${kind === "p2sh" ? "p2sh (p2sh-p2wpkh)" : kind}`,
    );
  }
  const data = utf8.encode(message);
  const digest = sha256d(concat(compactSize(BIP137_MAGIC.length), BIP137_MAGIC, compactSize(data.length), data));
  let compressed;
  let point;
  try {
    compressed = noble().recoverPublicKey(concat(Uint8Array.of((header - 27) % 4), raw.subarray(1)), digest);
    point = noble().pointFromBytes(compressed);
  } catch {
    throw new SignatureError("signature does not verify: no public key can be recovered from it");
  }
  let signer;
  if (kind === "p2pkh") signer = p2pkhScript(hash160(point.toBytes(claimed === "p2pkh")));
  else if (kind === "p2sh") signer = p2shScript(hash160(p2wpkhScript(hash160(compressed))));
  else signer = p2wpkhScript(hash160(compressed));
  if (!equalBytes(signer, script)) {
    throw new SignatureError(
      `signature does not match the address: it was made by public key ${toHex(compressed)}, ` +
        `not by the key of ${address} (or the message differs)`,
    );
  }
  return compressed;
}

/** A consensus-serialized witness stack, as Python's _witness_stack (same messages). */
function witnessStack(raw) {
  let pos = 0;
  const readCompact = () => {
    if (pos >= raw.length) throw new SignatureError("malformed signature: witness ends early");
    const first = raw[pos];
    if (first < 0xfd) {
      pos += 1;
      return first;
    }
    const size = { 0xfd: 2, 0xfe: 4, 0xff: 8 }[first];
    if (pos + 1 + size > raw.length) throw new SignatureError("malformed signature: witness ends early");
    let n = 0;
    for (let i = size; i >= 1; i--) n = n * 256 + raw[pos + i];
    pos += 1 + size;
    return n;
  };
  const count = readCompact();
  if (count > 1000) throw new SignatureError(`malformed signature: witness claims ${count} items`);
  const items = [];
  for (let i = 0; i < count; i++) {
    const length = readCompact();
    if (pos + length > raw.length) throw new SignatureError("malformed signature: witness item runs past the end");
    items.push(raw.subarray(pos, pos + length));
    pos += length;
  }
  if (pos !== raw.length) {
    throw new SignatureError(
      `malformed signature: ${raw.length - pos} bytes after the witness (a BIP-322 'full' signature or a BIP-137 one?)`,
    );
  }
  return items;
}

const ZERO4 = new Uint8Array(4);
const ZERO8 = new Uint8Array(8);

/** BIP-322's to_spend transaction id (internal byte order) for a message and output script. */
function bip322ToSpendTxid(message, script) {
  const messageHash = taggedHash("BIP0322-signed-message", utf8.encode(message));
  const tx = concat(
    ZERO4, // version 0
    Uint8Array.of(1),
    new Uint8Array(32),
    Uint8Array.of(0xff, 0xff, 0xff, 0xff),
    Uint8Array.of(34, 0x00, 0x20),
    messageHash,
    ZERO4, // sequence 0
    Uint8Array.of(1),
    ZERO8, // value 0
    compactSize(script.length),
    script,
    ZERO4, // lock time 0
  );
  return sha256d(tx);
}

/**
 * A BIP-322 "simple" signature (base64 witness) for a P2WPKH, P2SH-P2WPKH or P2TR (key path)
 * address, as Python's chains.bitcoin.verify_bip322_simple (rust-bitcoin's bip322 crate):
 * the signer's key the witness shows (33-byte compressed, or the 32-byte x-only output key).
 */
export async function verifyBip322(message, address, signature, network) {
  const script = await bitcoinScript(address, network);
  const kind = scriptKind(script);
  if (kind === "p2pkh") {
    throw new SignatureError(
      `a BIP-322 simple signature cannot prove control of the p2pkh address ${address} (it has no witness); use BIP-137`,
    );
  }
  const stack = witnessStack(strictBase64(signature));
  if (!stack.length) throw new SignatureError("malformed signature: empty witness");
  const fail = (why) => new SignatureError(`BIP-322 signature does not verify for ${address}: ${why}`);
  const outpoint = concat(bip322ToSpendTxid(message, script), ZERO4);
  const output = concat(ZERO8, Uint8Array.of(1, 0x6a)); // value 0, OP_RETURN
  if (kind === "p2wpkh" || kind === "p2sh") {
    if (stack.length !== 2) throw fail("a P2WPKH witness has a signature and a public key");
    const [sig, publicKey] = stack;
    if (publicKey.length !== 33) throw fail("the witness's public key is not a compressed key");
    const keyHash = hash160(publicKey);
    const mine = kind === "p2wpkh" ? p2wpkhScript(keyHash) : p2shScript(hash160(p2wpkhScript(keyHash)));
    if (!equalBytes(mine, script)) throw fail("the witness's public key is not the address's");
    if (sig.length < 2 || sig[sig.length - 1] !== 0x01) throw fail("the signature's sighash type is not SIGHASH_ALL");
    const preimage = concat(
      ZERO4,
      sha256d(outpoint),
      sha256d(ZERO4),
      outpoint,
      Uint8Array.of(0x19),
      p2pkhScript(keyHash),
      ZERO8,
      ZERO4,
      sha256d(output),
      ZERO4,
      Uint8Array.of(1, 0, 0, 0),
    );
    let good;
    try {
      good = noble().verifyDer(sig.subarray(0, sig.length - 1), sha256d(preimage), publicKey);
    } catch {
      good = false;
    }
    if (!good) throw fail("the ECDSA signature is not valid");
    return publicKey;
  }
  if (kind !== "p2tr") throw fail(`${kind} addresses are not supported by BIP-322 simple verification`);
  if (stack.length !== 1) throw fail("a taproot key-path witness has exactly one item");
  const sig = stack[0];
  if (sig.length !== 64 && sig.length !== 65) throw fail("a Schnorr signature is 64 or 65 bytes");
  const hashType = sig.length === 65 ? sig[64] : 0;
  if (hashType !== 0 && hashType !== 1) throw fail("the signature's sighash type is not SIGHASH_DEFAULT or SIGHASH_ALL");
  const message341 = concat(
    Uint8Array.of(0x00, hashType),
    ZERO4, // version
    ZERO4, // lock time
    noble().sha256(outpoint),
    noble().sha256(ZERO8),
    noble().sha256(concat(compactSize(script.length), script)),
    noble().sha256(ZERO4),
    noble().sha256(output),
    Uint8Array.of(0x00), // key path, no annex
    ZERO4, // input index
  );
  const outputKey = script.subarray(2);
  let good;
  try {
    good = noble().schnorrVerify(sig.subarray(0, 64), taggedHash("TapSighash", message341), outputKey);
  } catch {
    good = false;
  }
  if (!good) throw fail("the Schnorr signature is not valid");
  return outputKey;
}

/**
 * The key that proved control for a wallet (Ed25519, EIP-191, BIP-137 or BIP-322), as Python's
 * chains family verify_control; AddressError or SignatureError otherwise.
 */
export async function verifyControl(chain, proofType, message, address, signature) {
  if (chain.kind === "ed25519" && proofType === "ed25519") return verifyEd25519Control(message, address, signature);
  if (chain.kind === "evm" && proofType === "eip191") return verifyEip191(message, address, signature);
  if (chain.kind === "bitcoin" && proofType === "bip137") return verifyBip137(message, address, signature, chain.network);
  if (chain.kind === "bitcoin" && proofType === "bip322") return verifyBip322(message, address, signature, chain.network);
  throw new SignatureError(`${proofType} is not a proof type for ${chain.kind}`);
}

/** One problem per chain entry naming a network an earlier entry of its kind names (T14). */
function sharedNetworkProblems(chains) {
  const first = new Map();
  const problems = [];
  for (const chain of chains) {
    const key = `${chain.kind}\u0000${chain.network}`;
    if (!first.has(key)) first.set(key, chain.id);
    const seen = first.get(key);
    if (seen !== chain.id) {
      problems.push(
        `chains ${seen} and ${chain.id} are the same ${chain.kind} network (${chain.network}): ` +
          "a network is listed once, so that no wallet is counted twice",
      );
    }
  }
  return problems;
}

/** One problem per wallet whose identity an earlier one has (T14), within a category too. */
function countedTwiceProblems(entries) {
  const first = new Map();
  const problems = [];
  for (const [where, identity] of entries) {
    if (first.has(identity)) {
      problems.push(
        `${where} is the same wallet as ${first.get(identity)} (what the chain sees is the same): ` +
          "a wallet is declared, and counted, once",
      );
    } else {
      first.set(identity, where);
    }
  }
  return problems;
}

/** Who controls an address, for commingling across categories (T11): an EVM address is the
 * same key on every EVM chain. (Which balance it is, for T14, is walletIdentity.) */
function addressKey(chain, address) {
  return chain.kind === "evm" ? `evm:${address.toLowerCase()}` : `${chain.id}:${address}`;
}

function keyId(chain, publicKeyHex) {
  if (publicKeyHex === null) return null;
  return `${chain.kind === "ed25519" ? "ed25519" : "secp256k1"}:${publicKeyHex}`;
}

/** One problem per address or public key found in two categories (T11). */
function comminglingProblems(entries) {
  const problems = [];
  for (const [position, what] of [
    [2, "address"],
    [3, "public key"],
  ]) {
    const first = new Map();
    for (const entry of entries) {
      const key = entry[position];
      if (key === null) continue;
      if (!first.has(key)) first.set(key, [entry[0], entry[1]]);
      const seen = first.get(key);
      if (seen[1] !== entry[1]) {
        problems.push(`commingling: the same ${what} is in ${seen[1]} (${seen[0]}) and in ${entry[1]} (${entry[0]})`);
      }
    }
  }
  return problems;
}

/** What a verifier without the private data can still check about a signed coverage row. */
function coverageProblems(row, wallets) {
  const totals = Object.fromEntries(CATEGORIES.map((c) => [c, 0n]));
  for (const w of wallets) totals[w.category] += walletAmount(w, row.asset);
  const problems = [];
  for (const [category, signed] of [
    ["client_segregated", row.clientSegregated],
    ["client_dedicated", row.clientDedicated],
    ["proprietary", row.proprietary],
    ["third_party", row.thirdParty],
  ]) {
    if (totals[category] !== signed) {
      problems.push(
        `${row.asset}: the ${category} wallets add up to ${totals[category]}, the signed coverage says ${signed}`,
      );
    }
  }
  if (row.clientDedicatedCounted > row.clientDedicated) {
    problems.push(
      `${row.asset}: more dedicated reserves counted (${row.clientDedicatedCounted}) than dedicated ` +
        `wallets hold (${row.clientDedicated})`,
    );
  }
  return problems;
}

// ---------------------------------------------------------------- manifest and proof file

const MAX_SHARD_FANOUT = 256;
const MAX_ENTRIES = 2 ** 32 - 1;

/** porsegregate/2: the smallest q >= 0 with entries <= 256 x 16^q (the shard prefix length). */
export function shardPrefixChars(entries) {
  let q = 0;
  while (entries > MAX_SHARD_FANOUT * 16 ** q) q++;
  return q;
}

/** A path a manifest may list: inside its folder ('/'-separated, no '..', '.', '' or '\\'). */
function safeRelative(relative) {
  return relative !== "" && !relative.includes("\\") && relative.split("/").every((p) => p !== "" && p !== "." && p !== "..");
}

export function parseManifest(bytes) {
  const doc = loadCanonical(bytes, "manifest.json");
  const format = get(doc, "format", "string", "manifest");
  if (!FORMATS.includes(format)) throw new FormatError(`manifest format is not ${FORMATS.join(" or ")}`);
  only(doc, ["format", "epoch", "attestation_sha256", "proofs", "files"], "manifest");
  const att = get(doc, "attestation_sha256", "string", "manifest");
  if (!HEX64.test(att)) throw new FormatError("manifest.attestation_sha256 is not 64 lowercase hex digits");
  const proofs = get(doc, "proofs", "dict", "manifest");
  const files = get(doc, "files", "dict", "manifest");
  let prefix = 0;
  let entries = null;
  let bits = null;
  let root = null;
  if (format === FORMAT_V2) {
    // porsegregate/2: the entries in all shards together, which fix the shard bits, and the
    // root of the shard tree (the shards are in no manifest's files).
    only(proofs, ["entries", "shard_bits", "shards_root"], "proofs");
    entries = get(proofs, "entries", "int", "proofs");
    bits = get(proofs, "shard_bits", "int", "proofs");
    root = get(proofs, "shards_root", "string", "proofs");
    if (entries < 1 || entries > MAX_ENTRIES) throw new FormatError("proofs.entries must be 1 to 2^32-1");
    if (bits !== shardBits(entries)) {
      throw new FormatError(`proofs.shard_bits is ${bits}; for ${entries} entries it is ${shardBits(entries)}`);
    }
    if (!HEX64.test(root)) throw new FormatError("proofs.shards_root is not 64 lowercase hex digits");
  } else {
    only(proofs, ["shard_prefix_hex_chars"], "proofs");
    prefix = get(proofs, "shard_prefix_hex_chars", "int", "proofs");
    if (prefix < 0 || prefix > 32) throw new FormatError("proofs.shard_prefix_hex_chars must be 0 to 32");
  }
  for (const [path, digest] of Object.entries(files)) {
    if (!safeRelative(path)) {
      throw new FormatError(`manifest.files lists ${JSON.stringify(path.slice(0, 200))}, not a path inside the site`);
    }
    if (typeof digest !== "string" || !HEX64.test(digest)) {
      throw new FormatError(`manifest.files[${JSON.stringify(path)}] is not a SHA-256 hex digest`);
    }
  }
  return {
    format,
    epoch: get(doc, "epoch", "string", "manifest"),
    attestationSha256: att,
    shardPrefixChars: prefix,
    entries,
    shardBits: bits,
    shardsRoot: root,
    files,
  };
}

// The transparency log's published names (section 13), as Python's protocol/layout.py.
const CHECKPOINT_NAME = "log/checkpoint.json";
const sigName = (name) => `${name}.sig`;
const inclusionName = (index) => `log/inclusion/${index}.json`;
const loggedAttestationName = (index) => `log/attestations/${index}.json`;
const consistencyName = (size) => `log/consistency/${size}.json`;
const INCLUSION_FILE = /^log\/inclusion\/(0|[1-9][0-9]*)\.json$/;
const CHECKPOINT_NOTE_NAME = "log/checkpoint.note";
const witnessCosignatureName = (size, fingerprint) => `log/witnesses/${size}/${fingerprint}.note`;
const WITNESS_COSIGNATURE_FILE = /^log\/witnesses\/[1-9][0-9]*\/[0-9a-f]{64}\.note$/;
// The log files a porsegregate-proof/2 file carries, by their published names, besides the
// inclusion proof of the newest entry, log/inclusion/<n-1>.json, and the witnesses'
// co-signatures of the checkpoint, log/witnesses/<n>/<fingerprint>.note (section 10).
const PROOF_LOG_FILES = [CHECKPOINT_NAME, sigName(CHECKPOINT_NAME), CHECKPOINT_NOTE_NAME];
const MAX_PROOF_WITNESSES = 16;
const INCLUSION_NAME = "log/inclusion/<n-1>.json";

/**
 * A downloaded proof file (protocol section 10) as raw bytes; throws FormatError. A
 * porsegregate-proof/1 file has no log: its logFiles is null.
 */
export function parseProofFile(doc) {
  const version = get(doc, "format", "string", "proof");
  if (version !== PROOF_FORMAT && version !== PROOF_FORMAT_1) {
    throw new FormatError(`not a ${PROOF_FORMAT} (or ${PROOF_FORMAT_1}) file`);
  }
  const lookup = get(doc, "lookup", "string", "proof");
  if (!/^[0-9a-f]{32}$/.test(lookup)) throw new FormatError("proof.lookup must be 32 lowercase hex digits");
  return {
    attestation: fromBase64(doc.attestation, "proof.attestation"),
    attestationSig: fromBase64(doc.attestation_sig, "proof.attestation_sig"),
    publicKeyPem: get(doc, "public_key_pem", "string", "proof"),
    lookup: fromHex(lookup),
    entry: fromBase64(doc.entry, "proof.entry"),
    logFiles: version === PROOF_FORMAT ? parseProofLogFiles(doc) : null,
  };
}

/** The published log files of a porsegregate-proof/2 file (a Map name -> bytes), as Python's. */
function parseProofLogFiles(doc) {
  const files = get(doc, "log_files", "dict", "proof");
  const out = new Map();
  for (const [name, value] of Object.entries(files)) {
    if (!PROOF_LOG_FILES.includes(name) && !INCLUSION_FILE.test(name) && !WITNESS_COSIGNATURE_FILE.test(name)) {
      throw new FormatError(
        `proof.log_files: ${JSON.stringify(name)} is not a file a proof file carries ` +
          `(${PROOF_LOG_FILES.join(", ")}, one ${INCLUSION_NAME} and the witnesses' ` +
          "log/witnesses/<n>/<fingerprint>.note)",
      );
    }
    out.set(name, fromBase64(value, `proof.log_files[${JSON.stringify(name)}]`));
  }
  for (const name of PROOF_LOG_FILES) {
    if (!out.has(name)) throw new FormatError(`proof.log_files has no ${name}`);
  }
  const inclusion = [...out.keys()].filter((name) => INCLUSION_FILE.test(name));
  if (inclusion.length !== 1) {
    throw new FormatError(
      `proof.log_files must hold exactly one ${INCLUSION_NAME}, the inclusion proof of the ` +
        `newest entry; it holds ${inclusion.length}`,
    );
  }
  const cosigned = [...out.keys()].filter((name) => WITNESS_COSIGNATURE_FILE.test(name));
  if (cosigned.length > MAX_PROOF_WITNESSES) {
    throw new FormatError(
      `proof.log_files holds ${cosigned.length} witness co-signatures; an attestation names ` +
        `at most ${MAX_PROOF_WITNESSES} witnesses`,
    );
  }
  return out;
}

/** A proof file's JSON: porsegregate-proof/2 with its log files (/1 only for a /1 file read). */
function proofFileDoc(p) {
  const doc = {
    format: p.logFiles ? PROOF_FORMAT : PROOF_FORMAT_1,
    attestation: toBase64(p.attestation),
    attestation_sig: toBase64(p.attestationSig),
    public_key_pem: p.publicKeyPem,
    lookup: toHex(p.lookup),
    entry: toBase64(p.entry),
  };
  if (p.logFiles) {
    const names = [...p.logFiles.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    doc.log_files = Object.fromEntries(names.map((name) => [name, toBase64(p.logFiles.get(name))]));
  }
  return doc;
}

// ---------------------------------------------------------------- the transparency log (section 13)

export const CHECKPOINT_FORMAT = "porsegregate-checkpoint/1";
export const ENTRIES_FORMAT = "porsegregate-log-entries/1";
export const INCLUSION_FORMAT = "porsegregate-inclusion/1";
export const CONSISTENCY_FORMAT = "porsegregate-consistency/1";
const MAX_LOG_SIZE = 2 ** 53 - 1;
const MAX_LOG_PATH = 64;

/** RFC 9162 leaf hash of a log entry (the 32-byte SHA-256 of an attestation): H(0x00 || entry). */
export async function logLeafHash(entry) {
  return sha256(concat(Uint8Array.of(0x00), entry));
}

/** RFC 9162 interior node: H(0x01 || left || right). */
function logNodeHash(left, right) {
  return sha256(concat(Uint8Array.of(0x01), left, right));
}

/** A log size or index as a BigInt (so that bit operations work past 2^31), or null. */
function logInt(value) {
  if (typeof value === "bigint") return value;
  return Number.isSafeInteger(value) ? BigInt(value) : null;
}

/**
 * RFC 9162 2.1.3.2: does `path` (Uint8Arrays, bottom first) prove that `leafHash` is leaf
 * `index` of a tree of `size` leaves with root `root`? A path of the wrong length fails.
 */
export async function verifyInclusion(leafHash, index, size, path, root) {
  const i = logInt(index);
  const n = logInt(size);
  if (i === null || n === null || !(0n <= i && i < n)) return false;
  let fn = i;
  let sn = n - 1n;
  let r = leafHash;
  for (const p of path) {
    if (sn === 0n) return false;
    if (fn & 1n || fn === sn) {
      r = await logNodeHash(p, r);
      if (!(fn & 1n)) {
        do {
          fn >>= 1n;
          sn >>= 1n;
        } while (!(fn & 1n || fn === 0n));
      }
    } else {
      r = await logNodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equalBytes(r, root);
}

/**
 * RFC 9162 2.1.4.2: is the tree of `second` leaves (root `secondRoot`) an append-only
 * extension of the tree of `first` leaves (root `firstRoot`), by the consistency `path`?
 */
export async function verifyConsistency(first, second, firstRoot, secondRoot, path) {
  const m = logInt(first);
  const n = logInt(second);
  if (m === null || n === null || !(0n < m && m <= n)) return false;
  if (m === n) return path.length === 0 && equalBytes(firstRoot, secondRoot);
  const proof = [...path];
  // A power of two: the old root is itself a node of the new tree, and starts the proof.
  if ((m & (m - 1n)) === 0n) proof.unshift(firstRoot);
  if (proof.length === 0) return false;
  let fn = m - 1n;
  let sn = n - 1n;
  while (fn & 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = proof[0];
  let sr = proof[0];
  for (const c of proof.slice(1)) {
    if (sn === 0n) return false;
    if (fn & 1n || fn === sn) {
      fr = await logNodeHash(c, fr);
      sr = await logNodeHash(c, sr);
      if (!(fn & 1n)) {
        do {
          fn >>= 1n;
          sn >>= 1n;
        } while (!(fn & 1n || fn === 0n));
      }
    } else {
      sr = await logNodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equalBytes(fr, firstRoot) && equalBytes(sr, secondRoot);
}

function checkEpochId(epochId, where) {
  if (!EPOCH_RE.test(epochId)) {
    throw new FormatError(
      `${where}epoch id ${JSON.stringify(epochId)} must be 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit`,
    );
  }
  return epochId;
}

/** log/checkpoint.json (and log/checkpoints/<n>.json), as Python's parse_checkpoint. */
export function parseCheckpoint(bytes) {
  const doc = loadCanonical(bytes, "checkpoint");
  if (get(doc, "format", "string", "checkpoint") !== CHECKPOINT_FORMAT) {
    throw new FormatError(`checkpoint format is not ${CHECKPOINT_FORMAT}`);
  }
  only(doc, ["format", "log", "size", "root", "time", "epoch"], "checkpoint");
  const log = get(doc, "log", "string", "checkpoint");
  const root = get(doc, "root", "string", "checkpoint");
  const size = get(doc, "size", "int", "checkpoint");
  const time = get(doc, "time", "string", "checkpoint");
  if (!HEX64.test(log) || !HEX64.test(root)) {
    throw new FormatError("checkpoint.log and checkpoint.root must be 64 lowercase hex digits");
  }
  if (!(size >= 1 && size <= MAX_LOG_SIZE) || !TIME.test(time)) {
    throw new FormatError("checkpoint.size or checkpoint.time is out of range");
  }
  const epoch = checkEpochId(get(doc, "epoch", "string", "checkpoint"), "checkpoint: ");
  return { log, size, root, time, epoch };
}

/** log/entries.json: [{index, epoch, attestationSha256}], numbered 0..n-1. */
export function parseEntries(bytes) {
  const doc = loadCanonical(bytes, "log entries");
  if (get(doc, "format", "string", "entries") !== ENTRIES_FORMAT) {
    throw new FormatError(`log entries format is not ${ENTRIES_FORMAT}`);
  }
  only(doc, ["format", "entries"], "entries");
  return get(doc, "entries", "list", "entries").map((item, i) => {
    const where = `entries[${i}]`;
    only(item, ["index", "epoch", "attestation_sha256"], where);
    const digest = get(item, "attestation_sha256", "string", where);
    if (get(item, "index", "int", where) !== i || !HEX64.test(digest)) {
      throw new FormatError(`${where}: index must be ${i} and attestation_sha256 a SHA-256`);
    }
    const epoch = checkEpochId(get(item, "epoch", "string", where), `${where}: `);
    return { index: i, epoch, attestationSha256: digest };
  });
}

function logPath(doc, where) {
  const path = get(doc, "path", "list", where);
  if (path.length > MAX_LOG_PATH || !path.every((h) => typeof h === "string" && HEX64.test(h))) {
    throw new FormatError(`${where}.path must be at most ${MAX_LOG_PATH} SHA-256 hex digests`);
  }
  return path.map(fromHex);
}

/** log/inclusion/<i>.json. */
export function parseInclusion(bytes) {
  const doc = loadCanonical(bytes, "inclusion proof");
  if (get(doc, "format", "string", "inclusion") !== INCLUSION_FORMAT) {
    throw new FormatError(`inclusion proof format is not ${INCLUSION_FORMAT}`);
  }
  only(doc, ["format", "index", "tree_size", "attestation_sha256", "path"], "inclusion");
  const index = get(doc, "index", "int", "inclusion");
  const treeSize = get(doc, "tree_size", "int", "inclusion");
  const digest = get(doc, "attestation_sha256", "string", "inclusion");
  if (!(index >= 0 && index < treeSize && treeSize <= MAX_LOG_SIZE) || !HEX64.test(digest)) {
    throw new FormatError("inclusion: index, tree_size or attestation_sha256 out of range");
  }
  return { index, treeSize, attestationSha256: digest, path: logPath(doc, "inclusion") };
}

/** log/consistency/<m>.json. */
export function parseConsistency(bytes) {
  const doc = loadCanonical(bytes, "consistency proof");
  if (get(doc, "format", "string", "consistency") !== CONSISTENCY_FORMAT) {
    throw new FormatError(`consistency proof format is not ${CONSISTENCY_FORMAT}`);
  }
  only(doc, ["format", "first", "second", "path"], "consistency");
  const first = get(doc, "first", "int", "consistency");
  const second = get(doc, "second", "int", "consistency");
  if (!(first > 0 && first <= second && second <= MAX_LOG_SIZE)) {
    throw new FormatError("consistency: first and second must satisfy 0 < first <= second");
  }
  return { first, second, path: logPath(doc, "consistency") };
}

// ---------------------------------------------------------------- auditors' co-signatures (section 14)

export const COSIGN_FORMAT = "porsegregate-cosign/1";
// An auditor who read chains again from its own nodes writes format 2, with "reread".
export const COSIGN_FORMAT_REREAD = "porsegregate-cosign/2";
const REREAD_MEMBERS = ["block_hash", "block_height", "chain"];
const MAX_REREAD = 1000;
export const AUDITORS_INDEX = "auditors/index.json";
// The five files of an auditor's folder (docs/protocol.md section 14), in the order they are
// named when some are missing.
const AUDITOR_FILES = ["auditor.pub.pem", "attestation.json.sig", "statement.txt", "auditor.json", "auditor.json.sig"];
const AUDITOR_MEMBERS = ["attestation_sha256", "epoch", "fingerprint", "format", "name", "statement_sha256"];
const MAX_AUDITOR_NAME = 200;
const MAX_STATEMENT = 64 * 1024;
const MAX_AUDITORS = 100;
// Bidirectional overrides and isolates make a name display as something else.
const BIDI = /[\u202a-\u202e\u2066-\u2069]/u;
const NAME_CONTROL = /[\p{Cc}\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069]/u;
// ASCII white space: a statement of only these bytes is empty (docs/protocol.md section 14).
const ASCII_SPACE_BYTES = new Set([0x20, 0x09, 0x0a, 0x0d, 0x0b, 0x0c]);
// A co-signature's time: ASCII digits only, and a date and time that exist (no leap seconds).
const COSIGN_TIME = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z$/;
const bomKeepingUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A character as U+XXXX (at least four hex digits), to name an invisible one in a problem. */
function codePoint(ch) {
  return `U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/** Is `time` (already COSIGN_TIME) a date and time that exist (no leap seconds)? */
function validCosignTime(time) {
  const [year, month, day, hour, minute, second] = COSIGN_TIME.exec(time).slice(1).map(Number);
  if (month < 1 || month > 12) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return year >= 1 && day >= 1 && day <= days && hour <= 23 && minute <= 59 && second <= 59;
}

/** Why `name` cannot be an auditor's name (docs/protocol.md section 14), or null. */
export function auditorNameProblem(name) {
  const points = [...name];
  if (!points.length || TEXT_SPACE.has(points[0].codePointAt(0)) || TEXT_SPACE.has(points.at(-1).codePointAt(0))) {
    return "the auditor name must be non-empty, without leading or trailing spaces";
  }
  if (points.length > MAX_AUDITOR_NAME) return `the auditor name is longer than ${MAX_AUDITOR_NAME} characters`;
  const bad = points.find((ch) => NAME_CONTROL.test(ch));
  if (bad !== undefined) return `the auditor name contains a control character (${codePoint(bad)})`;
  return null;
}

/** Why `data` cannot be a statement (UTF-8 text up to 64 KiB, docs/protocol.md section 14), or null. */
export function statementProblem(data) {
  if (data.every((b) => ASCII_SPACE_BYTES.has(b))) return "the statement is empty";
  if (data.length > MAX_STATEMENT) {
    return `the statement is ${data.length} bytes; at most ${MAX_STATEMENT} (64 KiB)`;
  }
  let text;
  try {
    text = bomKeepingUtf8.decode(data);
  } catch {
    return "the statement is not UTF-8";
  }
  for (const ch of text) {
    if ((/\p{Cc}/u.test(ch) && !"\t\n\r".includes(ch)) || BIDI.test(ch)) {
      return `the statement contains a control character (${codePoint(ch)})`;
    }
  }
  return null;
}

/** auditors/index.json: an RFC 8785 JSON array of fingerprints, sorted, no duplicates. */
export function parseAuditorIndex(bytes) {
  const doc = loadCanonical(bytes, "it");
  if (!Array.isArray(doc) || !doc.every((f) => typeof f === "string" && HEX64.test(f))) {
    throw new FormatError("not a list of key fingerprints (64 lowercase hex digits)");
  }
  const sorted = [...new Set(doc)].sort();
  if (sorted.length !== doc.length || sorted.some((f, i) => f !== doc[i])) {
    throw new FormatError("the fingerprints are not sorted, or one is listed twice");
  }
  if (doc.length > MAX_AUDITORS) throw new FormatError(`more than ${MAX_AUDITORS} auditors`);
  return doc;
}

/** auditor.json's "reread" (format 2): the chains the auditor read again, sorted, unique. */
function parseReread(value) {
  if (!Array.isArray(value) || value.length < 1 || value.length > MAX_REREAD) {
    throw new FormatError(`reread must be a list of 1 to ${MAX_REREAD} chains`);
  }
  const out = value.map((item, i) => {
    const where = `reread[${i}]`;
    if (!isObject(item) || Object.keys(item).sort().join("\n") !== REREAD_MEMBERS.join("\n")) {
      throw new FormatError(`${where} must have exactly the members ${REREAD_MEMBERS.join(", ")}`);
    }
    const { chain, block_height: height, block_hash: hash } = item;
    if (typeof chain !== "string" || !CHAIN_RE.test(chain)) throw new FormatError(`${where}.chain is not a chain id`);
    if (!Number.isSafeInteger(height) || height < 0) {
      throw new FormatError(`${where}.block_height is not a block height`);
    }
    if (typeof hash !== "string" || textProblem(hash, 100) !== null) {
      throw new FormatError(`${where}.block_hash is not a block hash`);
    }
    return { chain, block_height: height, block_hash: hash };
  });
  for (let i = 1; i < out.length; i++) {
    if (!(out[i - 1].chain < out[i].chain)) {
      throw new FormatError("reread is not sorted by chain, or names a chain twice");
    }
  }
  return out;
}

/**
 * auditor.json: exactly RFC 8785; format 1 has exactly the seven string members, format 2
 * those and "reread" (the chains the auditor read again). Returns the members, with
 * `reread` ([] for format 1).
 */
export function parseAuditorDocument(bytes) {
  const doc = loadCanonical(bytes, "it");
  const strings = [...AUDITOR_MEMBERS, "time"];
  const reread = isObject(doc) && doc.format === COSIGN_FORMAT_REREAD;
  const members = reread ? [...strings, "reread"] : strings;
  if (!isObject(doc) || Object.keys(doc).sort().join("\n") !== [...members].sort().join("\n")) {
    throw new FormatError(`it must have exactly the members ${[...members].sort().join(", ")}`);
  }
  if (!strings.every((m) => typeof doc[m] === "string")) {
    throw new FormatError("every member but reread must be a string");
  }
  if (doc.format !== COSIGN_FORMAT && doc.format !== COSIGN_FORMAT_REREAD) {
    throw new FormatError(`format is not ${COSIGN_FORMAT} or ${COSIGN_FORMAT_REREAD}`);
  }
  for (const member of ["fingerprint", "attestation_sha256", "statement_sha256"]) {
    if (!HEX64.test(doc[member])) throw new FormatError(`${member} is not 64 lowercase hex digits`);
  }
  const problem = auditorNameProblem(doc.name);
  if (problem !== null) throw new FormatError(problem);
  if (!COSIGN_TIME.test(doc.time)) throw new FormatError("time is not YYYY-MM-DDTHH:MM:SSZ");
  if (!validCosignTime(doc.time)) throw new FormatError("time is not a valid date and time");
  return { ...doc, reread: reread ? parseReread(doc.reread) : [] };
}

/** The fingerprint (SHA-256 of the raw key, hex) of a PEM Ed25519 public key; FormatError if not one. */
export async function publicKeyFingerprint(pemText) {
  return (await ed25519KeyAndFingerprint(pemText)).fingerprint;
}

/** The key of a PEM Ed25519 public key and its fingerprint; a FormatError if it is not one. */
async function ed25519KeyAndFingerprint(pemText) {
  let key;
  try {
    key = await importEd25519(pemText);
  } catch (e) {
    if (e instanceof FormatError || (e && e.name === "DataError")) throw new FormatError("not an Ed25519 public key");
    if (e && e.name === "NotSupportedError") throw ed25519Unsupported();
    throw e;
  }
  const raw = new Uint8Array(await subtle().exportKey("raw", key));
  return { key, fingerprint: toHex(await sha256(raw)) };
}

// ---------------------------------------------------------------- witnesses (section 13, C2SP notes)

// c2sp.org/signed-note signature types: Ed25519 (the log's note) and cosignature/v1.
const NOTE_ED25519 = 0x01;
const COSIGNATURE_V1 = 0x04;
const MAX_WITNESSES = 16;
const MAX_NOTE_BYTES = 65536;
const MAX_NOTE_SIGNATURES = 64;
const MAX_COSIGNATURE_TIME = (1n << 63n) - 1n;
const WITNESS_NAME = /^[!-*,-~]{1,200}$/;
const KEY_ID_HEX = /^[0-9a-f]{8}$/;

/** The checkpoint note's origin line: one log per custodian key. */
export function logOrigin(fingerprint) {
  return `porsegregate/${fingerprint}`;
}

/** SHA-256(name || 0x0A || type || public key)[:4] (C2SP signed-note key id). */
export async function noteKeyId(name, kind, publicKey) {
  return (await sha256(concat(utf8.encode(name), new Uint8Array([0x0a, kind]), publicKey))).subarray(0, 4);
}

/**
 * A cosignature/v1 verifier key <name>+<hex key id>+<base64(0x04 || key)> (section 7). The key
 * id is checked against the key by checkWitnessKeys (SHA-256 is asynchronous in WebCrypto).
 */
export function parseWitnessKey(text) {
  const plus = text.indexOf("+");
  const plus2 = plus < 0 ? -1 : text.indexOf("+", plus + 1);
  if (plus2 < 0) throw new FormatError(`witness key ${JSON.stringify(text)} is not <name>+<key id>+<base64 key>`);
  const name = text.slice(0, plus);
  const kid = text.slice(plus + 1, plus2);
  const encoded = text.slice(plus2 + 1);
  if (!WITNESS_NAME.test(name)) {
    throw new FormatError(`witness name ${JSON.stringify(name)} must be 1 to 200 visible ASCII characters without '+' or spaces`);
  }
  const raw = fromBase64(encoded, `witness key ${JSON.stringify(name)}`);
  if (raw.length !== 33 || raw[0] !== COSIGNATURE_V1) {
    throw new FormatError(`witness key ${JSON.stringify(name)}: not a cosignature/v1 Ed25519 key`);
  }
  if (toBase64(raw) !== encoded) throw new FormatError(`witness key ${JSON.stringify(name)}: not canonical base64`);
  if (!KEY_ID_HEX.test(kid)) throw new FormatError(`witness key ${JSON.stringify(name)}: the key id is not the key's`);
  return { name, key: raw.slice(1), keyId: fromHex(kid), fingerprint: null };
}

/** Every witness key's id is the key's (part of `format`); sets each one's fingerprint. */
export async function checkWitnessKeys(witnesses) {
  for (const w of witnesses.keys) {
    if (!equalBytes(w.keyId, await noteKeyId(w.name, COSIGNATURE_V1, w.key))) {
      throw new FormatError(`witness key ${JSON.stringify(w.name)}: the key id ${toHex(w.keyId)} is not the key's`);
    }
    w.fingerprint = toHex(await sha256(w.key));
  }
}

/** The attestation's `witnesses` member; absent means none (threshold 0). */
export function parseWitnesses(doc) {
  if (doc === undefined) return { threshold: 0, keys: [] };
  if (!isObject(doc) || Object.keys(doc).sort().join(",") !== "keys,threshold") {
    throw new FormatError("attestation.witnesses must have exactly threshold and keys");
  }
  const { keys, threshold } = doc;
  if (!Array.isArray(keys) || keys.length < 1 || keys.length > MAX_WITNESSES) {
    throw new FormatError(`witnesses.keys must list 1 to ${MAX_WITNESSES} witness keys`);
  }
  if (!keys.every((k) => typeof k === "string")) throw new FormatError("witnesses.keys must be strings");
  const parsed = keys.map(parseWitnessKey);
  if (
    new Set(parsed.map((w) => w.name)).size !== parsed.length ||
    new Set(parsed.map((w) => toHex(w.key))).size !== parsed.length
  ) {
    throw new FormatError("witnesses.keys names a witness name or key twice");
  }
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > parsed.length) {
    throw new FormatError(`witnesses.threshold must be an integer from 1 to ${parsed.length}`);
  }
  return { threshold, keys: parsed };
}

/** The C2SP tlog-checkpoint note text of a checkpoint: origin, size, base64 root. */
export function checkpointBody(checkpoint) {
  return utf8.encode(`${logOrigin(checkpoint.log)}\n${checkpoint.size}\n${toBase64(fromHex(checkpoint.root))}\n`);
}

/** What a cosignature/v1 signs. */
export function cosignedMessage(body, timestamp) {
  return concat(utf8.encode(`cosignature/v1\ntime ${timestamp}\n`), body);
}

/** A C2SP signed note: {body (bytes), signatures: [{name, payload (bytes)}]}. */
export function parseNote(bytes) {
  if (bytes.length > MAX_NOTE_BYTES) throw new FormatError(`the note is longer than ${MAX_NOTE_BYTES} bytes`);
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new FormatError("the note is not UTF-8");
  }
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) throw new FormatError("the note holds a control character other than newline");
  if (!text.endsWith("\n")) throw new FormatError("the note does not end with a newline");
  const split = text.lastIndexOf("\n\n");
  if (split < 0) throw new FormatError("the note has no blank line before its signatures");
  const body = text.slice(0, split + 1);
  const lines = text.slice(split + 2).split("\n").slice(0, -1);
  if (lines.length < 1 || lines.length > MAX_NOTE_SIGNATURES) {
    throw new FormatError(`the note must have 1 to ${MAX_NOTE_SIGNATURES} signature lines`);
  }
  const signatures = lines.map((line) => {
    const parts = line.split(" ");
    if (parts.length !== 3 || parts[0] !== "\u2014" || parts[1] === "") {
      throw new FormatError(`not a signature line: ${JSON.stringify(line.slice(0, 80))}`);
    }
    const payload = fromBase64(parts[2], `signature line of ${JSON.stringify(parts[1].slice(0, 80))}`);
    if (payload.length < 5) throw new FormatError(`signature line of ${JSON.stringify(parts[1].slice(0, 80))} is too short`);
    return { name: parts[1], payload };
  });
  return { body: utf8.encode(body), signatures };
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

// =================================================================================================
// CHECKS
// The verification flow: each check, with the protocol's check id, appends its verdict to a
// Run and stops at the first failure; verifyProof (a downloaded proof), verifySite (a site:
// fetched, with its log, freshness, client state and co-signatures) and verifyHistory (every
// epoch). A site that cannot be read is a SiteError, not a verdict.
// =================================================================================================

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
      // The attestation's snapshot time: the balances are as they were then.
      snapshotTime: null,
      keyFingerprint: null,
      balances: [],
      shortfall: false,
      coverage: [],
      // Wallet signatures of the reserves: { verified, unchecked }; all are verified here.
      controlSignatures: null,
      proof: null,
      // The signed log checkpoint this attestation was checked against (site only), the
      // promised time of the next attestation, and warnings (not failures) such as "overdue".
      checkpoint: null,
      // The checkpoint the client remembered from an earlier visit, when there was one.
      seenCheckpoint: null,
      nextDue: null,
      overdue: false,
      warnings: [],
      // Auditors' co-signatures of this attestation (site only): {fingerprint, name, ok, detail,
      // time} each, as Python's Report.auditors.
      auditors: [],
      // Every witness the attestation names (site only): {name, fingerprint, ok, detail,
      // timestamp}, as Python's Report.witnesses.
      witnesses: [],
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
  try {
    await checkWitnessKeys(attestation.witnesses);
  } catch (e) {
    if (e instanceof FormatError) throw run.fail("format", `attestation.json is malformed: ${e.message}`);
    throw e;
  }
  run.report.epoch = attestation.epochId;
  run.report.custodian = { ...attestation.custodian };
  run.report.snapshotTime = attestation.snapshotTime;
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
  const aad = bundleAad(epoch, keys.lookup, attestation.format);
  const plaintext = await aesGcmDecrypt(keys.key, entry, aad);
  if (plaintext === null) throw run.fail("decrypt", "your proof does not decrypt with your code: it was altered");
  run.ok("decrypt", "your proof decrypts with your code (AES-256-GCM)");
  const bundle = parsedOrFail(run, "bundle-format", "your proof", () => decodeBundle(plaintext, attestation));
  const problem = assetOrderProblem(bundle, attestation.assets.map((a) => a.code));
  if (problem !== null) {
    const why = `${problem} (a balance shown twice, or out of place)`;
    throw run.fail("bundle-format", `your proof is malformed: ${why}`);
  }
  run.ok("bundle-format", "your proof is well formed, each asset once, in the attestation's order");
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
    // The balance is the sum of the parts, an amount like any other.
    if (balance > MAX_AMOUNT) {
      throw run.fail("sum-range", `your ${code} parts add up to more than 2^128-1`, code);
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
      // How many parts (leaves, each under the signed root) the balance was proven in.
      parts: assetProof.leaves.length,
    });
  }
  run.report.balances = balances;
}

/**
 * Verify a downloaded proof file offline (no network).
 * `proof` is the parsed JSON of a porsegregate-proof/2 (or /1) file. A /2 file carries the
 * log files the site showed: the site's log checks run on them, then freshness.
 *
 * options: expectKey (a pinned key fingerprint), state (what the client remembers, as for
 * verifySite: read, never written, for a saved proof is not a visit), now (for freshness).
 */
export async function verifyProof(proof, accountId, code, options = {}) {
  const p = parseProofFile(proof);
  const state = options.state ?? null;
  const now = options.now === undefined || options.now === null ? new Date() : new Date(options.now);
  if (!Number.isFinite(now.getTime())) throw new TypeError("options.now is not a valid time");
  const run = new Run();
  try {
    const secret = await checkCode(run, code);
    const { attestation, key } = await checkAttestation(
      run,
      p.attestation,
      p.attestationSig,
      p.publicKeyPem,
      options.expectKey ?? null,
    );
    if (p.logFiles === null) {
      run.report.warnings.push(
        "log not checked: this is a porsegregate-proof/1 file, which carries no transparency " +
          "log, so log-checkpoint, log-inclusion and log-consistency did not run: nothing shows " +
          "that this attestation is the one the custodian logged for everyone; verify on the " +
          "site, and save the proof again",
      );
    } else {
      const read = async (relative, check) => {
        if (!p.logFiles.has(relative)) throw run.fail(check, `the proof file carries no ${relative}`);
        return p.logFiles.get(relative);
      };
      const { checkpoint } = await checkLogHead(run, read, key, p.attestation);
      if (state) await checkAgainstStateOffline(run, checkpoint, state);
      const carried = async (relative) => p.logFiles.get(relative) ?? null;
      await checkWitnesses(run, p.logFiles.get(CHECKPOINT_NOTE_NAME) ?? null, carried, key, attestation, checkpoint);
    }
    checkFreshness(run, attestation, now, true);
    await checkReserves(run, attestation);
    // A proof file carries no documents (legal-documents runs on the site only).
    record(run, legalHoldersCheck(attestation));
    const keys = await deriveEpochKeys(secret, attestation.epochId);
    const entry = equalBytes(keys.lookup, p.lookup) ? p.entry : null;
    const bundle = await openBundle(run, attestation, keys, entry);
    run.report.proof = proofFileDoc(p);
    await checkBundle(run, attestation, keys, accountId, bundle);
    await clientCoverage(run, attestation, keys, accountId);
  } catch (e) {
    if (!(e instanceof Failed)) throw e;
  }
  return run.finish();
}

// ---------------------------------------------------------------- fetching the site

/** A site that cannot be read (missing file, network); not a verification result. */
export class SiteError extends Error {
  constructor(message) {
    super(message);
    this.name = "SiteError";
  }
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

// The manifest each report's site was verified with (signature checked), for verifyHistory.
const verifiedManifests = new WeakMap();

/** A file of the site, checked against the signed manifest before it is used (_manifest_file). */
async function manifestFile(run, site, relative, check) {
  const files = site.manifest.files;
  const expected = Object.prototype.hasOwnProperty.call(files, relative) ? files[relative] : null;
  // A file the signed manifest does not list is never used, so it is not fetched either.
  const data = expected === null ? null : await fetchBytes(site.fetcher, site.base, relative, false);
  if (expected === null || data === null) {
    throw run.fail(check, `${relative} is missing from the site or from its signed manifest`);
  }
  if (toHex(await sha256(data)) !== expected) {
    throw run.fail(check, `${relative} does not match the signed manifest: it was altered`);
  }
  return data;
}

// ---------------------------------------------------------------- the log and freshness (section 13)

/**
 * The attestation is the newest entry of the signed log (log-checkpoint, log-inclusion), as
 * Python's _log_head. `read(name, check)` gives a log file by its published name (from the site,
 * checked against its manifest, or from a proof file); returns {checkpoint, files}: the files
 * read, by name, which a saved proof file carries.
 */
async function checkLogHead(run, read, key, attestationData) {
  const files = new Map();
  const need = async (relative, check) => {
    const data = await read(relative, check);
    files.set(relative, data);
    return data;
  };
  const data = await need(CHECKPOINT_NAME, "log-checkpoint");
  const sig = await need(sigName(CHECKPOINT_NAME), "log-checkpoint");
  if (!(await ed25519Verify(key, sig, data))) {
    throw run.fail("log-checkpoint", "the log checkpoint is not signed by the custodian key");
  }
  const checkpoint = parsedOrFail(run, "log-checkpoint", "the log checkpoint", () => parseCheckpoint(data));
  if (checkpoint.log !== run.report.keyFingerprint) {
    throw run.fail("log-checkpoint", "the checkpoint names another log (another key)");
  }
  // The checkpoint is of the log whose newest entry is this attestation: its epoch is the
  // attestation's (log-inclusion then checks the entry itself).
  let attested = null;
  try {
    attested = parseAttestation(attestationData).epochId;
  } catch (e) {
    if (!(e instanceof FormatError)) throw e; // the attestation's own check (format) said so
  }
  if (attested !== null && checkpoint.epoch !== attested) {
    throw run.fail(
      "log-checkpoint",
      `the log checkpoint is of epoch ${JSON.stringify(checkpoint.epoch)}, the attestation of ${JSON.stringify(attested)}`,
    );
  }
  run.report.checkpoint = checkpoint;
  run.ok(
    "log-checkpoint",
    `the log checkpoint (size ${checkpoint.size}, ${checkpoint.time}) is signed by the custodian`,
  );
  const digest = await sha256(attestationData);
  const relative = inclusionName(checkpoint.size - 1);
  const proofData = await need(relative, "log-inclusion");
  const proof = parsedOrFail(run, "log-inclusion", relative, () => parseInclusion(proofData));
  if (
    proof.index !== checkpoint.size - 1 ||
    proof.treeSize !== checkpoint.size ||
    proof.attestationSha256 !== toHex(digest) ||
    !(await verifyInclusion(await logLeafHash(digest), proof.index, proof.treeSize, proof.path, fromHex(checkpoint.root)))
  ) {
    throw run.fail(
      "log-inclusion",
      "this attestation is not the newest entry of the signed log: it was rewritten, or the log was",
    );
  }
  run.ok("log-inclusion", `this attestation is entry ${proof.index} of the signed log`);
  return { checkpoint, files };
}

/** The site's log: its newest entry is this attestation, and the log only grew (T8). */
async function checkLog(run, site, key, attestationData, state) {
  const head = await checkLogHead(run, (relative, check) => manifestFile(run, site, relative, check), key, attestationData);
  if (state) await checkAgainstState(run, site, head.checkpoint, state);
  return head;
}

/** What `state.seen(log)` returned, as {size, root (hex)}; a malformed value is an error. */
function seenCheckpoint(seen) {
  if (seen === null || seen === undefined) return null;
  const root = seen.root instanceof Uint8Array ? toHex(seen.root) : seen.root;
  if (!Number.isSafeInteger(seen.size) || seen.size < 1 || typeof root !== "string" || !HEX64.test(root)) {
    throw new TypeError("the remembered log checkpoint is malformed (size and 64-hex root expected)");
  }
  return { ...seen, size: seen.size, root };
}

/**
 * What a remembered checkpoint says of this one, as Python's remembered_log: fails on a
 * rollback or a fork; true when the log grew (a consistency proof must then verify).
 */
function rememberedLog(run, seen, checkpoint) {
  if (seen.size > checkpoint.size) {
    throw run.fail(
      "log-consistency",
      `you saw this log at size ${seen.size} before; now it has ${checkpoint.size} entries: ` +
        "history was rewritten, or you are shown an old or forked copy",
    );
  }
  if (seen.size === checkpoint.size && seen.root !== checkpoint.root) {
    throw run.fail(
      "log-consistency",
      `you saw a different log of the same size (${seen.size}) before: the custodian ` +
        "shows different histories to different people (a fork)",
    );
  }
  return seen.size < checkpoint.size;
}

async function checkAgainstState(run, site, checkpoint, state) {
  const seen = seenCheckpoint(await state.seen(checkpoint.log));
  if (seen === null) {
    run.ok("log-consistency", "first visit: this checkpoint will be remembered if everything verifies");
    return;
  }
  run.report.seenCheckpoint = seen;
  if (!rememberedLog(run, seen, checkpoint)) {
    run.ok("log-consistency", `the log is the one you saw before (size ${seen.size})`);
    return;
  }
  const relative = consistencyName(seen.size);
  const proofData = await manifestFile(run, site, relative, "log-consistency");
  const proof = parsedOrFail(run, "log-consistency", relative, () => parseConsistency(proofData));
  if (
    proof.first !== seen.size ||
    proof.second !== checkpoint.size ||
    !(await verifyConsistency(seen.size, checkpoint.size, fromHex(seen.root), fromHex(checkpoint.root), proof.path))
  ) {
    throw run.fail(
      "log-consistency",
      `the log is not an extension of the one you saw before (size ${seen.size}): ` +
        "history was rewritten (or forked) since your last check",
    );
  }
  run.ok(
    "log-consistency",
    `the log only grew since your last check (size ${seen.size} to ${checkpoint.size})`,
  );
}

/**
 * A proof file's checkpoint against the remembered one (Python's _remembered_offline): the
 * same size must be the same log. A proof file carries no consistency proof, so another size
 * is a warning, not a check.
 */
async function checkAgainstStateOffline(run, checkpoint, state) {
  const seen = seenCheckpoint(await state.seen(checkpoint.log));
  if (seen === null) {
    run.ok("log-consistency", "you remember no checkpoint of this log: nothing to compare");
    return;
  }
  run.report.seenCheckpoint = seen;
  if (seen.size === checkpoint.size) {
    rememberedLog(run, seen, checkpoint);
    run.ok("log-consistency", `the log is the one you saw before (size ${seen.size})`);
    return;
  }
  run.report.warnings.push(
    `log not compared: you remember this log at size ${seen.size}, this proof file's checkpoint ` +
      `has size ${checkpoint.size}, and a proof file carries no consistency proof between the ` +
      "two; verify on the site with your state to check that the log only grew",
  );
}

/** Is `date` later than `stamp` (YYYY-MM-DDTHH:MM:SSZ)? Compared as Python compares datetimes. */
function laterThan(date, stamp) {
  const ms = date.getTime();
  const text = `${date.toISOString().slice(0, 19)}Z`;
  return text > stamp || (text === stamp && ((ms % 1000) + 1000) % 1000 !== 0);
}

/**
 * A freeze attack shows an old attestation forever: say so once the next is overdue (T9).
 * `offline`: the attestation of a saved proof file, stale rather than frozen.
 */
function checkFreshness(run, attestation, now, offline = false) {
  run.report.nextDue = attestation.nextDue;
  if (attestation.nextDue === null) return;
  if (laterThan(now, attestation.nextDue)) {
    run.report.overdue = true;
    run.report.warnings.push(
      `overdue: the custodian said the next attestation would be published by ${attestation.nextDue}` +
        (offline
          ? ", so this saved proof is stale: it shows your balances as they were then; verify on " +
            "the site for the current attestation"
          : ", and this is still the latest one it shows; it may have stopped publishing, or this " +
            "site may be showing you an old copy"),
    );
  }
}

/** Is `base` an earlier epoch's home (…/epochs/<id>/)? As Python's layout.is_epoch_home. */
export function isEpochHome(base) {
  const parts = new URL(base).pathname.split("/").filter((p) => p !== "");
  return parts.length >= 2 && parts[parts.length - 2] === "epochs";
}

/**
 * The attestation whose freshness counts (section 13): on an earlier epoch's home, the site
 * root's (two folders up), when its signature verifies under the same custodian key;
 * otherwise (and when the root cannot be read or does not verify) this one.
 */
async function newestAttestation(fetcher, base, key, attestation) {
  if (!isEpochHome(base)) return attestation;
  try {
    const root = new URL("../../", base).href;
    const [data, signature] = await Promise.all(
      ["attestation.json", "attestation.json.sig"].map((name) => fetchBytes(fetcher, root, name, false)),
    );
    if (data === null || signature === null) return attestation;
    if (!(await ed25519Verify(key, signature, data))) return attestation;
    return parseAttestation(data);
  } catch (e) {
    if (e instanceof SiteError || e instanceof FormatError) return attestation;
    throw e;
  }
}

// The failed checks a typing mistake explains, and what to check (protocol section 9), as
// Python's INPUT_CHECKS: a code whose checksum fails; no proof under the lookup id derived from
// the typed code; a proof that opens with the typed code but names another account id.
const INPUT_CHECKS = new Map([
  ["code", "code"],
  ["proof-found", "code"],
  ["bundle-account", "account id"],
]);

/** "code" or "account id" when a typing mistake explains the report's failure, else null. */
export function typedWrong(report) {
  const failed = report.failed;
  return failed ? (INPUT_CHECKS.get(failed.id) ?? null) : null;
}

// ---------------------------------------------------------------- what the client remembers

/**
 * What a client remembers between checks, in memory: the last checkpoint seen per log
 * (custodian key fingerprint), as Python's ClientState. `seen(log)` gives {size, root, time,
 * epoch} or null; `remember(checkpoint)` keeps one. The page keeps the same in localStorage.
 */
export class MemoryState {
  constructor() {
    this.logs = new Map();
  }
  seen(log) {
    return this.logs.get(log) ?? null;
  }
  remember(checkpoint) {
    const { size, root, time, epoch } = checkpoint;
    this.logs.set(checkpoint.log, { size, root, time, epoch });
  }
}

export const STORAGE_PREFIX = "porsegregate:log:";

/**
 * The client state in a Web Storage object (the page uses localStorage), one key per log:
 * `porsegregate:log:<custodian key fingerprint>` holding {size, root, time, epoch}. An entry
 * that cannot be read counts as not seen, and `problem` says so; a storage that refuses to
 * write sets `problem` too. Nothing here throws.
 */
export function storageState(storage) {
  return {
    problem: null,
    seen(log) {
      let raw;
      try {
        raw = storage.getItem(STORAGE_PREFIX + log);
      } catch (e) {
        this.problem = `this browser would not read what this page saved before (${e.message})`;
        return null;
      }
      if (raw === null) return null;
      try {
        const item = JSON.parse(raw);
        if (!isObject(item) || !Number.isSafeInteger(item.size) || item.size < 1 || !HEX64.test(item.root)) {
          throw new Error("malformed");
        }
        return { size: item.size, root: item.root, time: String(item.time ?? ""), epoch: String(item.epoch ?? "") };
      } catch {
        this.problem = "the log checkpoint this browser saved before could not be read; it is replaced";
        return null;
      }
    },
    remember(checkpoint) {
      const { size, root, time, epoch } = checkpoint;
      try {
        storage.setItem(STORAGE_PREFIX + checkpoint.log, JSON.stringify({ size, root, time, epoch }));
      } catch (e) {
        this.problem = `this browser would not let this page remember the log (${e.message})`;
      }
    },
  };
}

// ---------------------------------------------------------------- witnesses (checks, section 13)

async function rawEd25519(raw) {
  try {
    return await subtle().importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
  } catch (e) {
    if (e && e.name === "NotSupportedError") throw ed25519Unsupported();
    return null;
  }
}

/** log/checkpoint.note: the signed checkpoint as a note signed by the custodian; its text. */
async function checkCheckpointNote(run, data, key, checkpoint) {
  if (data === null) throw run.fail("log-witnesses", `${CHECKPOINT_NOTE_NAME} is missing`);
  const note = parsedOrFail(run, "log-witnesses", "log/checkpoint.note", () => parseNote(data));
  const body = checkpointBody(checkpoint);
  if (!equalBytes(note.body, body)) {
    throw run.fail("log-witnesses", "log/checkpoint.note is not the signed checkpoint (size, root, log)");
  }
  const origin = logOrigin(checkpoint.log);
  const raw = new Uint8Array(await subtle().exportKey("raw", key));
  const kid = await noteKeyId(origin, NOTE_ED25519, raw);
  const mine = note.signatures.filter((s) => s.name === origin && equalBytes(s.payload.subarray(0, 4), kid));
  let ok = mine.length > 0;
  for (const s of mine) ok = ok && (await ed25519Verify(key, s.payload.subarray(4), body));
  if (!ok) throw run.fail("log-witnesses", "log/checkpoint.note is not signed by the custodian key");
  return body;
}

function timeOf(seconds) {
  const clamped = Math.min(seconds, 253402300799);
  return `${new Date(clamped * 1000).toISOString().slice(0, 19)}Z`;
}

/** One named witness's co-signature of the checkpoint: {name, fingerprint, ok, detail, timestamp}. */
export async function witnessCosignature(witness, body, data) {
  const bad = (detail) => ({ name: witness.name, fingerprint: witness.fingerprint, ok: false, detail, timestamp: null });
  if (data === null) return bad("no co-signature published");
  let note;
  try {
    note = parseNote(data);
  } catch (e) {
    if (e instanceof FormatError) return bad(`not a signed note: ${e.message}`);
    throw e;
  }
  if (!equalBytes(note.body, body)) return bad("its co-signature is of another checkpoint");
  const lines = note.signatures.filter(
    (s) => s.name === witness.name && equalBytes(s.payload.subarray(0, 4), witness.keyId),
  );
  if (lines.length === 0) return bad("no signature line by this witness's key");
  const key = await rawEd25519(witness.key);
  for (const s of lines) {
    const p = s.payload;
    let stamp = 0n;
    for (const b of p.subarray(4, 12)) stamp = (stamp << 8n) | BigInt(b);
    if (
      key === null ||
      p.length !== 4 + 8 + 64 ||
      stamp > MAX_COSIGNATURE_TIME ||
      !(await ed25519Verify(key, p.subarray(12), cosignedMessage(body, stamp.toString())))
    ) {
      return bad("its cosignature does not verify");
    }
  }
  let first = 0n;
  for (const b of lines[0].payload.subarray(4, 12)) first = (first << 8n) | BigInt(b);
  const timestamp = Number(first);
  return {
    name: witness.name,
    fingerprint: witness.fingerprint,
    ok: true,
    detail: `co-signed at ${timeOf(timestamp)}`,
    timestamp,
  };
}

/** `log-witnesses`: the attestation's threshold of witnesses co-signed this checkpoint (T16). */
/**
 * log-witnesses: the checkpoint note (`note`, bytes or null) and, through `read(name)` (bytes
 * or null), the witnesses' co-signatures of it. Returns the files read, by their published
 * names, for a saved proof file to carry.
 */
async function checkWitnesses(run, note, read, key, attestation, checkpoint) {
  const files = new Map();
  if (note !== null) files.set(CHECKPOINT_NOTE_NAME, note);
  const body = await checkCheckpointNote(run, note, key, checkpoint);
  const policy = attestation.witnesses;
  const results = [];
  for (const w of policy.keys) {
    const relative = witnessCosignatureName(checkpoint.size, w.fingerprint);
    const data = await read(relative);
    if (data !== null) files.set(relative, data);
    results.push(await witnessCosignature(w, body, data));
  }
  run.report.witnesses = results;
  const signed = results.filter((r) => r.ok);
  if (signed.length < policy.threshold) {
    throw run.fail(
      "log-witnesses",
      `the log checkpoint (size ${checkpoint.size}) is co-signed by ${signed.length} of the ` +
        `${policy.threshold} witnesses the attestation requires; ` +
        results.map((r) => `${r.name}: ${r.detail}`).join("; ") +
        ". A checkpoint the witnesses did not co-sign may be a history shown only to you (a split view)",
    );
  }
  run.ok(
    "log-witnesses",
    policy.keys.length === 0
      ? "the attestation names no witnesses: nothing shows that everyone is shown this same log " +
          "(only a client who remembers an earlier checkpoint notices a fork)"
      : `co-signed by ${signed.length} of ${results.length} witnesses (at least ${policy.threshold} ` +
          `required): ${signed.map((r) => `${r.name} (${r.detail})`).join(", ")}`,
  );
  return files;
}

// ---------------------------------------------------------------- a site and its history

/**
 * Verify a client's inclusion against a published site. Fetches the signed
 * attestation and manifest, auditors/index.json and the co-signatures it lists (a 404 there
 * means no auditor co-signed), the signed log checkpoint and the attestation's inclusion
 * proof, and exactly one shard, chosen by the client's lookup id.
 *
 * options: fetch (a fetch function), expectKey (a pinned key fingerprint), state (what the
 * client remembers: an object with seen(log) and remember(checkpoint), e.g. MemoryState or
 * storageState(localStorage)), now (a Date, or milliseconds, for the freshness warning).
 */
export async function verifySite(base, accountId, code, options = {}) {
  const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  const state = options.state ?? null;
  const now = options.now === undefined || options.now === null ? new Date() : new Date(options.now);
  if (!Number.isFinite(now.getTime())) throw new TypeError("options.now is not a valid time");
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
    // Right after format, in the epoch's own folder (protocol section 14), as Python does.
    await checkAuditors(run, fetcher, base, attestationData);
    if (!(await ed25519Verify(key, manifestSig, manifestData))) {
      throw run.fail("manifest-signature", "manifest.json is not signed by the custodian key");
    }
    run.ok("manifest-signature", "the file manifest is signed by the custodian key");
    const manifest = parsedOrFail(run, "manifest-signature", "manifest.json", () =>
      parseManifest(manifestData),
    );
    if (manifest.attestationSha256 !== toHex(await sha256(attestationData))) {
      throw run.fail("manifest-attestation", "the manifest is for a different attestation");
    }
    const listed = Object.prototype.hasOwnProperty.call(manifest.files, "attestation.json")
      ? manifest.files["attestation.json"]
      : null;
    if (listed !== manifest.attestationSha256) {
      throw run.fail("manifest-attestation", "the manifest lists another attestation.json than it names");
    }
    if (manifest.format !== attestation.format) {
      throw run.fail(
        "manifest-attestation",
        `the manifest is of format ${manifest.format}, its attestation of ${attestation.format}`,
      );
    }
    if (manifest.epoch !== attestation.epochId) {
      throw run.fail("manifest-attestation", `the manifest is for epoch ${JSON.stringify(manifest.epoch)}, its attestation for ${JSON.stringify(attestation.epochId)}`);
    }
    run.ok("manifest-attestation", "the manifest is for this attestation");
    verifiedManifests.set(run.report, manifest);
    const site = { fetcher, base, manifest };
    const { checkpoint, files: logFiles } = await checkLog(run, site, key, attestationData, state);
    const note = await manifestFile(run, site, CHECKPOINT_NOTE_NAME, "log-witnesses");
    const read = (relative) => fetchBytes(site.fetcher, site.base, relative, false);
    for (const [name, data] of await checkWitnesses(run, note, read, key, attestation, checkpoint)) {
      logFiles.set(name, data);
    }
    checkFreshness(run, await newestAttestation(fetcher, base, key, attestation), now);
    await checkReserves(run, attestation);
    record(run, legalHoldersCheck(attestation));
    record(run, await legalDocumentsCheck(attestation, site));
    const keys = await deriveEpochKeys(secret, attestation.epochId);
    let entry = null;
    const shardPrefix = toHex(keys.lookup).slice(0, manifest.shardPrefixChars);
    const shardPath = manifest.shardBits === null
      ? shardName(shardPrefix)
      : shardFile(shardIndex(keys.lookup, manifest.shardBits), manifest.shardBits);
    const expected = Object.prototype.hasOwnProperty.call(manifest.files, shardPath)
      ? manifest.files[shardPath]
      : null;
    if (manifest.shardBits !== null) {
      // porsegregate/2: the shard of the lookup id's first b bits, covered by the signed
      // shards root through the path it carries (it is in no manifest's files).
      const shard = await fetchBytes(fetcher, base, shardPath, false);
      if (shard === null) {
        throw run.fail("shard-hash", `${shardPath} is missing: every one of the 2^b shards is published`);
      }
      const { shard: parsed, problem } = await shardV2Problem(shardPath, shard, manifest, attestation.epochId);
      if (problem !== null) throw run.fail("shard-hash", problem);
      run.ok("shard-hash", `${shardPath} and its path fold to the signed manifest's shards_root`);
      entry = parsed.entries.get(toHex(keys.lookup)) ?? null;
    } else if (expected !== null) {
      const shard = await fetchBytes(fetcher, base, shardPath);
      if (toHex(await sha256(shard)) !== expected) {
        throw run.fail("shard-hash", `${shardPath} does not match the signed manifest: it was altered`);
      }
      // A malformed shard the manifest signs is the custodian's: shard-hash, not proof-found.
      const entries = parsedOrFail(run, "shard-hash", shardPath, () => decodeShard(shard, shardPrefix));
      run.ok("shard-hash", `${shardPath} matches the signed manifest`);
      entry = entries.get(toHex(keys.lookup)) ?? null;
    }
    const bundle = await openBundle(run, attestation, keys, entry);
    run.report.proof = proofFileDoc({
      attestation: attestationData,
      attestationSig: signature,
      publicKeyPem: pemText,
      lookup: keys.lookup,
      entry,
      logFiles,
    });
    await checkBundle(run, attestation, keys, accountId, bundle);
    await clientCoverage(run, attestation, keys, accountId);
    // Changes since the previous epoch are warnings, once the client's proof verifies.
    await warnLegalChanges(run, site, attestation, checkpoint);
    // Only a fully verified check is remembered (as Python's ClientState).
    if (state) await state.remember({ ...checkpoint });
  } catch (e) {
    if (!(e instanceof Failed)) throw e;
  }
  return run.finish();
}

/**
 * Verify the client in every published epoch, and that the epochs form one history
 * (Python's verify_history; protocol section 13, "Checking every epoch").
 *
 * The newest epoch is checked as by verifySite (with options.state); then every epoch listed
 * in the signed log: its site is present (the root for the newest, else epochs/<id>/), its
 * attestation is the log entry, included under the newest checkpoint, chained to the epoch
 * before it, and the client's proof in it verifies, or it holds none for them (they may not
 * have been a client then: reported, not failed).
 *
 * Returns {verified, latest, checks, failed, epochs: [{epoch, location, page, report,
 * included, noProof}]}.
 */
export async function verifyHistory(base, accountId, code, options = {}) {
  const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  const latest = await verifySite(base, accountId, code, options);
  const result = { verified: false, latest, epochs: [], checks: [], failed: null };
  const checkpoint = latest.checkpoint;
  if (!latest.checks.length || (latest.failed !== null && checkpoint === null)) return result;
  // The manifest whose signature the newest epoch's check verified (never fetched again).
  const manifest = verifiedManifests.get(latest);
  const site = { fetcher, base, manifest };
  const run = new Run();
  try {
    const data = await manifestFile(run, site, "log/entries.json", "history-log");
    const entries = parsedOrFail(run, "history-log", "log/entries.json", () => parseEntries(data));
    if (entries.length !== checkpoint.size) {
      throw run.fail(
        "history-log",
        `the log lists ${entries.length} entries but its checkpoint says ${checkpoint.size}`,
      );
    }
    run.ok("history-log", `the signed log lists ${entries.length} attestations`);
    // The last entry of each epoch id, in the order of those last entries.
    const finals = new Map();
    for (const entry of entries) {
      finals.delete(entry.epoch);
      finals.set(entry.epoch, entry);
    }
    const root = fromHex(checkpoint.root);
    let previous = null;
    for (const entry of finals.values()) {
      const newest = entry.index === checkpoint.size - 1;
      const prefix = newest ? "" : `epochs/${entry.epoch}/`;
      const where = new URL(prefix, base).href;
      const relative = `log/inclusion/${entry.index}.json`;
      const proofData = await manifestFile(run, site, relative, "history-inclusion");
      const proof = parsedOrFail(run, "history-inclusion", relative, () => parseInclusion(proofData));
      if (
        proof.attestationSha256 !== entry.attestationSha256 ||
        !(await verifyInclusion(
          await logLeafHash(fromHex(entry.attestationSha256)),
          entry.index,
          checkpoint.size,
          proof.path,
          root,
        ))
      ) {
        throw run.fail("history-inclusion", `epoch ${entry.epoch}'s log entry is not under the signed checkpoint`);
      }
      const published = await fetchBytes(fetcher, base, `${prefix}attestation.json`, false);
      if (published === null) {
        throw run.fail(
          "history-epoch",
          `epoch ${entry.epoch} is in the signed log but its site (${prefix || "./"}) was removed`,
        );
      }
      if (toHex(await sha256(published)) !== entry.attestationSha256) {
        throw run.fail(
          "history-epoch",
          `the published attestation of epoch ${entry.epoch} is not the one in the signed log: it was rewritten`,
        );
      }
      const attestation = parsedOrFail(run, "history-epoch", `the attestation of epoch ${entry.epoch}`, () =>
        parseAttestation(published),
      );
      if (attestation.previousAttestationSha256 !== previous) {
        throw run.fail("history-chain", `epoch ${entry.epoch} does not chain to the epoch published before it`);
      }
      previous = entry.attestationSha256;
      const report = newest
        ? latest
        : await verifySite(where, accountId, code, { ...options, fetch: fetcher, state: null });
      const noProof = !report.verified && report.failed !== null && report.failed.id === "proof-found";
      result.epochs.push({
        epoch: entry.epoch,
        location: where,
        page: new URL(`${prefix}index.html`, base).href,
        report,
        included: report.verified,
        noProof,
      });
    }
    run.ok("history-inclusion", "every epoch's attestation is in the signed log");
    run.ok("history-epoch", "every epoch in the log is published and unchanged");
    run.ok("history-chain", "every epoch chains to the one before it");
  } catch (e) {
    if (e instanceof SiteError) {
      run.fail("history-epoch", e.message);
    } else if (!(e instanceof Failed)) {
      throw e;
    }
  }
  result.checks = run.report.checks;
  result.failed = run.report.failed;
  // The newest epoch and the history verify; an older epoch may hold no proof for the client.
  result.verified =
    latest.verified && result.failed === null && result.epochs.every((e) => e.included || e.noProof);
  return result;
}

// ---------------------------------------------------------------- auditors' co-signatures (checks)

/**
 * One listed auditor's co-signature, checked in the order of docs/protocol.md section 14 (the
 * name and time are reported only once auditor.json's signature verifies).
 */
/** Why the chains an auditor says it read again are not the attestation's, or null. */
function rereadProblem(reread, signed) {
  if (!reread.length) return null;
  if (signed === null) return "the attestation cannot be read to compare the chains it re-read";
  for (const r of reread) {
    const chain = signed.reserves.chains.find((c) => c.id === r.chain);
    if (!chain) return `it says it re-read chain ${r.chain}, which the attestation does not list`;
    if (r.block_height !== chain.blockHeight || r.block_hash !== chain.blockHash) {
      return (
        `it says it re-read ${r.chain} at block ${r.block_height} (${r.block_hash}), ` +
        `but the attestation signs block ${chain.blockHeight} (${chain.blockHash})`
      );
    }
  }
  return null;
}

async function checkCosignature(fetcher, base, fingerprint, attestation, signed) {
  const epoch = signed === null ? null : signed.epochId;
  const where = `auditors/${fingerprint}`;
  const bad = (detail, name = null, time = null) => ({ fingerprint, name, ok: false, detail, time, reread: [] });
  // All five are read; an error other than 404 is the site's, not a verdict.
  const settled = await Promise.allSettled(
    AUDITOR_FILES.map((name) => fetchBytes(fetcher, base, `${where}/${name}`, false)),
  );
  const error = settled.find((s) => s.status === "rejected");
  if (error) throw error.reason;
  const [pem, signature, statement, document, documentSig] = settled.map((s) => s.value);
  const missing = AUDITOR_FILES.filter((_, i) => settled[i].value === null);
  if (missing.length) {
    return bad(
      `auditor ${fingerprint} is listed in ${AUDITORS_INDEX} but ${where}/ lacks ` +
        `${missing.join(", ")}: the co-signature was removed or never completed`,
    );
  }
  let key;
  let actual;
  try {
    ({ key, fingerprint: actual } = await ed25519KeyAndFingerprint(new TextDecoder().decode(pem)));
  } catch (e) {
    if (e instanceof FormatError) return bad(`${where}/auditor.pub.pem is not an Ed25519 public key`);
    throw e;
  }
  if (actual !== fingerprint) {
    return bad(`${where}/auditor.pub.pem has fingerprint ${actual}, not the fingerprint its folder is named by`);
  }
  if (!(await ed25519Verify(key, documentSig, document))) {
    return bad(
      `${where}/auditor.json is not signed by the auditor's key: its name, statement or ` +
        "time was changed after signing",
    );
  }
  let doc;
  try {
    doc = parseAuditorDocument(document);
  } catch (e) {
    if (e instanceof FormatError) return bad(`${where}/auditor.json is malformed: ${e.message}`);
    throw e;
  }
  const { name, time } = doc;
  if (doc.fingerprint !== fingerprint) {
    return bad(`${where}/auditor.json names another key (${doc.fingerprint})`, name, time);
  }
  const problem = statementProblem(statement);
  if (problem !== null) return bad(`${where}/statement.txt: ${problem}`, name, time);
  if (toHex(await sha256(statement)) !== doc.statement_sha256) {
    return bad(`${where}/statement.txt is not the statement the auditor signed: it was changed`, name, time);
  }
  if (doc.attestation_sha256 !== toHex(await sha256(attestation)) || (epoch !== null && doc.epoch !== epoch)) {
    return bad(
      `${where}/auditor.json is for another attestation (epoch ${doc.epoch}, SHA-256 ` +
        `${doc.attestation_sha256}): this co-signature does not belong here`,
      name,
      time,
    );
  }
  if (!(await ed25519Verify(key, signature, attestation))) {
    return bad(
      `${where}/attestation.json.sig does not verify over this attestation.json under the ` +
        "auditor's key: it signs other bytes (another epoch's attestation, or an altered one)",
      name,
      time,
    );
  }
  const problem2 = rereadProblem(doc.reread, signed);
  if (problem2 !== null) return bad(`${where}/auditor.json: ${problem2}`, name, time);
  const reread = doc.reread.length
    ? ", having read again from its own nodes the balances of " +
      doc.reread.map((r) => `${r.chain} at block ${r.block_height}`).join(", ")
    : "";
  return {
    fingerprint,
    name,
    ok: true,
    detail: `${JSON.stringify(name)} (key ${fingerprint}) co-signed this attestation on ${time}${reread}`,
    time,
    reread: doc.reread,
  };
}

/**
 * Every co-signature `auditors/index.json` of the epoch's site at `base` lists, checked against
 * the exact bytes of its attestation.json (Python's verify_cosignatures). Each is
 * {fingerprint, name, ok, detail, time, reread}; `name` is null until auditor.json verifies. No index:
 * an empty list. A malformed index: one failed entry with an empty fingerprint. A file that
 * cannot be fetched (other than a 404) throws SiteError, as every other read of the site does.
 * options: fetch.
 */
export async function verifyCosignatures(base, attestation, options = {}) {
  const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  const index = await fetchBytes(fetcher, base, AUDITORS_INDEX, false);
  if (index === null) return [];
  let fingerprints;
  try {
    fingerprints = parseAuditorIndex(index);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    return [
      { fingerprint: "", name: null, ok: false, detail: `${AUDITORS_INDEX} is malformed: ${e.message}`, time: null, reread: [] },
    ];
  }
  let signed = null;
  try {
    signed = parseAttestation(attestation);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
  }
  const checks = [];
  for (const fingerprint of fingerprints) {
    checks.push(await checkCosignature(fetcher, base, fingerprint, attestation, signed));
  }
  return checks;
}

/**
 * Auditors' co-signatures of this attestation (Python's check_auditors): every listed one must
 * verify. No index means no auditor co-signed, and no check. A name is the auditor's own
 * claim; the key fingerprint is what to compare with the auditor's.
 */
function rereadNote(cosignature) {
  if (!cosignature.reread.length) return "";
  const chains = cosignature.reread.map((r) => `${r.chain} at block ${r.block_height}`).join(", ");
  return `, who read the balances of ${chains} again from its own node(s)`;
}

async function checkAuditors(run, fetcher, base, attestationData) {
  const checks = await verifyCosignatures(base, attestationData, { fetch: fetcher });
  run.report.auditors = checks;
  const failed = checks.find((c) => !c.ok);
  if (failed) throw run.fail("auditor-signature", failed.detail);
  if (checks.length) {
    run.ok(
      "auditor-signature",
      `co-signed by ${checks.length} auditor key(s): ` +
        checks.map((c) => `${JSON.stringify(c.name)} ${c.fingerprint}${rereadNote(c)}`).join("; ") +
        " (names are the auditors' own claims: compare the fingerprints with theirs)",
    );
  }
}

// ---------------------------------------------------------------- reserves (checks)

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * Everything about the reserves a verifier can check from the signed attestation (T11),
 * as Python's _check_reserves: every proof of control is verified here (Ed25519 by WebCrypto,
 * secp256k1 ones by the vendored @noble/curves).
 */
async function checkReserves(run, attestation) {
  const reserves = attestation.reserves;
  run.report.shortfall = reserves.shortfall;
  const context = {
    custodian: attestation.custodian.name,
    fingerprint: run.report.keyFingerprint ?? "",
    epoch: attestation.epochId,
    liabilitiesSha256: await liabilitiesSha256(attestation.assets),
  };
  const identities = [];
  let verified = 0;
  for (const wallet of reserves.wallets) {
    const chain = reserves.chains.find((c) => c.id === wallet.chain);
    const where = `${wallet.chain} ${wallet.address} (${wallet.category})`;
    let publicKey = null;
    if (wallet.proof.type === UNPROVEN) {
      if (CLIENT_CATEGORIES.includes(wallet.category)) {
        throw run.fail("reserves-control", `${where} counts for clients but has no proof of control`);
      }
    } else {
      const proof = await walletProof(context, chain, wallet);
      if (proof.signatureError !== null) {
        throw run.fail(
          "reserves-control",
          `${where}: the proof of control does not verify for this custodian, epoch, ` +
            `liabilities, address and category: ${proof.signatureError}`,
        );
      }
      if (proof.otherKey) {
        throw run.fail("reserves-control", `${where}: the published public key is not the key that signed`);
      }
      publicKey = proof.publicKey;
      verified++;
    }
    identities.push([where, wallet.category, addressKey(chain, wallet.address), keyId(chain, publicKey)]);
  }
  run.report.controlSignatures = { verified, unchecked: 0 };
  run.ok(
    "reserves-control",
    `all ${plural(verified, "wallet signature", "wallet signatures")} prove control for this epoch ` +
      "(Ed25519, EIP-191, BIP-137 and BIP-322, verified here)",
  );
  await checkDistinct(run, reserves);
  const mixed = comminglingProblems(identities);
  if (mixed.length) throw run.fail("reserves-commingling", mixed.join("; "));
  run.ok("reserves-commingling", "no address or key is in two categories");
  for (const row of reserves.coverage) {
    const problems = coverageProblems(row, reserves.wallets);
    if (problems.length) throw run.fail("reserves-coverage", problems.join("; "), row.asset);
  }
  run.ok("reserves-coverage", "the signed coverage figures add up from the listed wallets");
}

/**
 * Each wallet's proof of control, checked one by one (for the reserves page): the attestation's
 * signature under custodian.pub.pem first (a FormatError-free SiteError if it does not verify),
 * then, for every wallet with a signature, { chain, address, ok, detail }, as reserves-control.
 */
export async function verifyWalletProofs(attestationBytes, signature, publicPem) {
  const { key, fingerprint } = await ed25519KeyAndFingerprint(publicPem);
  if (!(await subtle().verify({ name: "Ed25519" }, key, signature, attestationBytes))) {
    throw new SiteError("the attestation's signature does not verify under the custodian's key");
  }
  const attestation = parseAttestation(attestationBytes);
  const reserves = attestation.reserves;
  const context = {
    custodian: attestation.custodian.name,
    fingerprint,
    epoch: attestation.epochId,
    liabilitiesSha256: await liabilitiesSha256(attestation.assets),
  };
  const results = [];
  for (const wallet of reserves.wallets) {
    if (wallet.proof.type === UNPROVEN) continue;
    const chain = reserves.chains.find((c) => c.id === wallet.chain);
    const proof = await walletProof(context, chain, wallet);
    const detail =
      proof.signatureError ??
      (proof.otherKey
        ? "the published public key is not the key that signed"
        : "its key signed this custodian, epoch, liabilities, address, category and holder");
    const ok = proof.signatureError === null && !proof.otherKey;
    results.push({ chain: wallet.chain, address: wallet.address, ok, detail });
  }
  return results;
}

/**
 * One wallet's proof of control over its challenge (section 11), for reserves-control and the
 * reserves page alike: { publicKey (hex or null), signatureError (why it does not verify, or
 * null), otherKey (the published public key is not the signer's) }.
 */
async function walletProof(context, chain, wallet) {
  const message = controlMessage({
    ...context,
    chain: wallet.chain,
    address: wallet.address,
    category: wallet.category,
    holder: wallet.holder,
    clientTag: wallet.clientTag,
  });
  try {
    const raw = await verifyControl(chain, wallet.proof.type, message, wallet.address, wallet.proof.signature);
    const publicKey = raw === null ? null : toHex(raw);
    return { publicKey, signatureError: null, otherKey: publicKey !== null && wallet.proof.publicKey !== publicKey };
  } catch (e) {
    if (!(e instanceof SignatureError || e instanceof AddressError)) throw e;
    return { publicKey: null, signatureError: e.message, otherKey: false };
  }
}

/** Each network is listed once and each wallet once, as the chain sees it (T14). */
async function checkDistinct(run, reserves) {
  const problems = sharedNetworkProblems(reserves.chains);
  const entries = [];
  for (const wallet of reserves.wallets) {
    const chain = reserves.chains.find((c) => c.id === wallet.chain);
    const where = `${wallet.chain} ${wallet.address} (${wallet.category})`;
    try {
      entries.push([where, await walletIdentity(chain, wallet.address)]);
    } catch (e) {
      if (!(e instanceof AddressError)) throw e;
      throw run.fail("reserves-distinct", `${where}: ${e.message}`);
    }
  }
  problems.push(...countedTwiceProblems(entries));
  if (problems.length) throw run.fail("reserves-distinct", problems.join("; "));
  run.ok(
    "reserves-distinct",
    `${reserves.chains.length} distinct networks, ${entries.length} distinct wallets: none is counted twice`,
  );
}

/** Coverage of each of the client's assets, and the client's own dedicated wallets. */
async function clientCoverage(run, attestation, keys, accountId) {
  const { reserves, epochId } = attestation;
  const mine = [];
  for (const w of reserves.wallets) {
    if (w.clientTag === null) continue;
    if (equalBytes(w.clientTag, await dedicatedTag(epochId, keys.nonce, accountId, w.chain, w.address))) {
      mine.push(w);
    }
  }
  run.report.coverage = [];
  for (const balance of run.report.balances) {
    const row = reserves.coverage.find((c) => c.asset === balance.asset);
    if (!row) continue;
    const dedicatedWallets = mine
      .filter((w) => w.holdings.some((h) => h.asset === balance.asset))
      .map((w) => {
        const amount = walletAmount(w, balance.asset);
        return {
          chain: w.chain,
          address: w.address,
          amount: amount.toString(),
          display: formatAmount(amount, balance.decimals),
        };
      });
    let held = 0n;
    for (const d of dedicatedWallets) held += BigInt(d.amount);
    const owed = BigInt(balance.amount);
    const short = dedicatedWallets.length && owed > held ? owed - held : 0n;
    run.report.coverage.push({
      asset: balance.asset,
      decimals: balance.decimals,
      segregatedPercent: row.segregatedPercent,
      includingThirdPartyPercent: row.includingThirdPartyPercent,
      covered: row.covered,
      dedicatedWallets,
      dedicatedShortfall: short.toString(),
      dedicatedShortfallDisplay: formatAmount(short, balance.decimals),
    });
  }
}

// ---------------------------------------------------------------- legal entities and documents (checks)

const NO_LEGAL = "the attestation declares no legal entities";

/** A role or document kind as words: "bankruptcy_remote_vehicle" -> "bankruptcy remote vehicle". */
function words(identifier) {
  return identifier.replaceAll("_", " ");
}

/**
 * What is wrong with the wallets' holders (legal-holders): each holder must be a declared
 * entity, and no client_segregated or client_dedicated wallet may be held by an
 * operating_company. One problem per wallet, in the wallets' order; [] when all is well.
 * `legal` is the parsed member (not null).
 */
export function legalHolderProblems(legal, reserves) {
  const roles = new Map(legal.entities.map((e) => [e.name, e.role]));
  const problems = [];
  for (const w of reserves.wallets) {
    const where = `${w.chain} ${w.address} (${w.category})`;
    const role = roles.get(w.holder);
    if (role === undefined) {
      problems.push(`${where}: its holder ${JSON.stringify(w.holder)} is not a declared entity`);
    } else if (role === OPERATING_COMPANY && CLIENT_CATEGORIES.includes(w.category)) {
      problems.push(
        `${where}: its holder ${JSON.stringify(w.holder)} is the custodian's operating company, ` +
          `which cannot be the protective holder of client assets (${w.category})`,
      );
    }
  }
  return problems;
}

/** A check's verdict, as a Run records it. */
const verdict = (id, ok, detail, asset = null) => ({ id, ok, detail, asset });

/**
 * legal-holders on a parsed attestation: every wallet's holder is a declared entity, and no
 * client wallet is held by the operating company. Returns the check ({id, ok, detail, asset}).
 */
export function legalHoldersCheck(attestation) {
  const { legal, reserves } = attestation;
  if (legal === null) return verdict("legal-holders", true, NO_LEGAL);
  const problems = legalHolderProblems(legal, reserves);
  if (problems.length) return verdict("legal-holders", false, problems.join("; "));
  return verdict(
    "legal-holders",
    true,
    `every wallet's holder is one of the ${plural(legal.entities.length, "declared legal entity", "declared legal entities")}, ` +
      "and no client wallet is held by the operating company",
  );
}

/**
 * legal-documents on a site ({fetcher, base, manifest: {files}}, the manifest's signature
 * checked): every document with a published file is on the site, its bytes have the SHA-256 the
 * attestation signs, and the manifest lists it with that hash. Returns the check; the details of
 * a failure are Python's (docs/protocol.md section 12).
 */
export async function legalDocumentsCheck(attestation, site) {
  const { legal } = attestation;
  if (legal === null) return verdict("legal-documents", true, NO_LEGAL);
  const files = site.manifest.files;
  let published = 0;
  for (const d of legal.documents) {
    if (d.file === null) continue;
    // The signed attestation names the file: it is fetched even when the manifest omits it.
    const data = await fetchBytes(site.fetcher, site.base, d.file, false);
    const fail = (why) => verdict("legal-documents", false, `${d.file} (${d.title})${why}`);
    if (data === null) return fail(" is missing from the site");
    if (toHex(await sha256(data)) !== d.sha256) return fail(": its bytes do not match the sha256 the attestation signs");
    if (!Object.prototype.hasOwnProperty.call(files, d.file) || files[d.file] !== d.sha256) {
      return fail(" is not listed in the signed manifest with its sha256");
    }
    published++;
  }
  const hashOnly = legal.documents.length - published;
  return verdict(
    "legal-documents",
    true,
    `${plural(published, "published document matches its", "published documents match their")} signed SHA-256; ` +
      `${plural(hashOnly, "document is", "documents are")} published as a hash only (shown to auditors)`,
  );
}

/** Record a check computed by legalHoldersCheck or legalDocumentsCheck; a failure stops the run. */
function record(run, check) {
  if (!check.ok) throw run.fail(check.id, check.detail, check.asset);
  run.ok(check.id, check.detail, check.asset);
}

const SINCE = "since the previous epoch";
const orNone = (value) => (value === null ? "none" : value);

/** Entities added, removed or changed, then documents added, replaced or removed (section 12). */
function arrangementChanges(previous, current) {
  const warnings = [];
  const before = new Map((previous?.entities ?? []).map((e) => [e.name, e]));
  const after = new Map((current?.entities ?? []).map((e) => [e.name, e]));
  for (const name of [...new Set([...before.keys(), ...after.keys()])].sort(compareText)) {
    const [old, now] = [before.get(name), after.get(name)];
    if (old === undefined) {
      warnings.push(`entity added ${SINCE}: ${name} (${words(now.role)}, ${now.jurisdiction})`);
    } else if (now === undefined) {
      warnings.push(`entity removed ${SINCE}: ${name} (${words(old.role)})`);
    } else {
      const parts = [
        ["role", words(old.role), words(now.role)],
        ["jurisdiction", old.jurisdiction, now.jurisdiction],
        ["LEI", orNone(old.lei), orNone(now.lei)],
        ["registration", orNone(old.registration), orNone(now.registration)],
      ].filter(([, a, b]) => a !== b);
      if (parts.length) {
        warnings.push(`entity ${name} changed ${SINCE}: ${parts.map(([what, a, b]) => `${what} ${a} -> ${b}`).join("; ")}`);
      }
    }
  }
  // A document is its bytes (sha256); a new one of the kind and title of one gone replaces it.
  const oldDocs = previous?.documents ?? [];
  const newDocs = current?.documents ?? [];
  const oldShas = new Set(oldDocs.map((d) => d.sha256));
  const newShas = new Set(newDocs.map((d) => d.sha256));
  const gone = oldDocs.filter((d) => !newShas.has(d.sha256));
  for (const d of newDocs) {
    if (oldShas.has(d.sha256)) continue;
    const at = gone.findIndex((o) => o.kind === d.kind && o.title === d.title);
    if (at >= 0) {
      const [replaced] = gone.splice(at, 1);
      warnings.push(`document replaced ${SINCE}: ${d.title} (${words(d.kind)}): sha256 ${replaced.sha256} -> ${d.sha256}`);
    } else {
      warnings.push(`document added ${SINCE}: ${d.title} (${words(d.kind)}, ${d.date}, sha256 ${d.sha256})`);
    }
  }
  for (const d of gone) warnings.push(`document removed ${SINCE}: ${d.title} (${words(d.kind)}, ${d.date})`);
  return warnings;
}

/** The holders of `asset` for clients: of the client_segregated and client_dedicated wallets listing it. */
function clientHolders(wallets, asset) {
  const names = wallets
    .filter((w) => CLIENT_CATEGORIES.includes(w.category) && w.holdings.some((h) => h.asset === asset))
    .map((w) => w.holder);
  return [...new Set(names)].sort(compareText);
}

/** A holder as a warning writes it: "<name> (<role>)", or the name when it is no declared entity. */
function namedHolder(legal, name) {
  const entity = legal?.entities.find((e) => e.name === name);
  return entity === undefined ? name : `${name} (${words(entity.role)})`;
}

/**
 * What changed in the legal arrangement since the previous epoch's attestation (parsed, or null
 * when there is none to compare with), as the warnings of docs/protocol.md section 12: entities,
 * documents, then the holders of each of `assets` (the client's, in the order of their proof).
 * An absent `legal` has no entities and no documents; with neither attestation declaring any,
 * nothing is compared.
 */
export function legalChanges(previous, current, assets) {
  if (previous === null || (previous.legal === null && current.legal === null)) return [];
  const warnings = arrangementChanges(previous.legal, current.legal);
  for (const asset of assets) {
    const old = clientHolders(previous.reserves.wallets, asset);
    const now = clientHolders(current.reserves.wallets, asset);
    const oldText = old.map((n) => namedHolder(previous.legal, n));
    const newText = now.map((n) => namedHolder(current.legal, n));
    const same = old.length === now.length && old.every((n, i) => n === now[i] && oldText[i] === newText[i]);
    if (same) continue;
    const [shown, legal] = now.length ? [now, current.legal] : [old, previous.legal];
    const single = shown.length === 1 ? legal?.entities.find((e) => e.name === shown[0]) : undefined;
    const word = single === undefined ? "holders" : words(single.role);
    const side = (texts) => (texts.length ? texts.join(", ") : "none");
    warnings.push(`the ${word} of your ${asset} changed ${SINCE}: ${side(oldText)} -> ${side(newText)}`);
  }
  return warnings;
}

/**
 * The previous epoch's attestation, parsed: the logged attestation log/attestations/<i>.json this
 * one chains to (its SHA-256 is previous_attestation_sha256, and the signed manifest lists it
 * with that hash; i = size - 2, or the highest such i when an epoch was republished). Null when
 * the log has one entry or the attestation chains to none; {problem} when it cannot be read.
 */
async function previousAttestation(site, attestation, checkpoint) {
  const chained = attestation.previousAttestationSha256;
  if (checkpoint.size < 2 || chained === null) return null;
  const files = site.manifest.files;
  const listed = (name) => (Object.prototype.hasOwnProperty.call(files, name) ? files[name] : null);
  let index = checkpoint.size - 2;
  for (let i = checkpoint.size - 2; i >= 0; i--) {
    if (listed(loggedAttestationName(i)) === chained) {
      index = i;
      break;
    }
  }
  const relative = loggedAttestationName(index);
  const missing = {
    problem: `${relative}, the attestation this one chains to, is missing from the site or from its signed manifest`,
  };
  if (listed(relative) !== chained) return missing;
  let data;
  try {
    data = await fetchBytes(site.fetcher, site.base, relative, false);
  } catch (e) {
    if (e instanceof SiteError) return { problem: e.message };
    throw e;
  }
  if (data === null) return missing;
  if (toHex(await sha256(data)) !== chained) return { problem: `${relative} does not match the signed manifest` };
  try {
    return { attestation: parseAttestation(data) };
  } catch (e) {
    if (e instanceof FormatError) return { problem: `${relative}: ${e.message}` };
    throw e;
  }
}

/** Warn of every change of the legal arrangement since the previous epoch (after the client's proof). */
async function warnLegalChanges(run, site, attestation, checkpoint) {
  const previous = await previousAttestation(site, attestation, checkpoint);
  if (previous === null) return;
  if (previous.problem !== undefined) {
    run.report.warnings.push(`legal changes not compared with the previous epoch: ${previous.problem}`);
    return;
  }
  const assets = run.report.balances.map((b) => b.asset);
  run.report.warnings.push(...legalChanges(previous.attestation, attestation, assets));
}

// =================================================================================================
// PAGE
// The DOM: the form of verify.html and the page of every published site, and how a report
// is shown. It runs only where there is a document with #porverify-app.
// =================================================================================================

// ---------------------------------------------------------------- the page's language

/**
 * The page's messages: the catalogue publish embeds as <script type="application/json"
 * id="porverify-messages"> (site/messages/<lang>.json: English text -> translation, with
 * {name} placeholders); without one (a Node test, an old page) the English text itself.
 * Check ids, check details and warnings stay in English: they are the technical evidence the
 * command-line verifier and auditors print word for word.
 */
let pageMessages = null;

function loadMessages() {
  if (pageMessages !== null) return pageMessages;
  pageMessages = {};
  const script = typeof document === "undefined" ? null : document.getElementById("porverify-messages");
  if (script) {
    try {
      pageMessages = JSON.parse(script.textContent) ?? {};
    } catch {
      pageMessages = {};
    }
  }
  return pageMessages;
}

/** The message `key` (its English text) in the page's language, with `params` filled in. */
function t(key, params = {}) {
  const text = loadMessages()[key] || key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** `one` when n is 1, else `other`, with {n} and `params` filled in. */
function tPlural(n, one, other, params = {}) {
  return t(n === 1 ? one : other, { n, ...params });
}

// ---------------------------------------------------------------- the page

function element(tag, text, className) {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  if (className) el.className = className;
  return el;
}

/**
 * Text with `code` spans (as the checks' details and the warnings write commands) appended to
 * `el`: the spans as <code> elements, everything as text nodes (never parsed as HTML).
 */
function appendRich(el, text) {
  String(text)
    .split("`")
    .forEach((part, i) => {
      if (part === "") return;
      el.append(i % 2 === 1 ? element("code", part) : document.createTextNode(part));
    });
  return el;
}

function richElement(tag, text, className) {
  return appendRich(element(tag, undefined, className), text);
}

function utcTime(stamp) {
  const when = element("time", stamp.replace("T", " ").replace(/Z$/, " UTC"));
  when.dateTime = stamp;
  return when;
}

/**
 * The result, lay reader first: the verdict (verified; "check what you typed" for a failure a
 * typing mistake explains, neutral; or NOT verified, red, with what to do), the balances and
 * the request to check they are all of them, the coverage, the download; then auditors, the
 * key fingerprint, and every check behind "Show all N checks".
 * `base`: the site the report is of (statement links are relative to it), or null.
 */
function showReport(app, report, base = null) {
  const overall = app.querySelector("#overall");
  const checks = app.querySelector("#checks");
  const tbody = app.querySelector("#balances tbody");
  const download = app.querySelector("#download-proof");
  const typed = typedWrong(report);
  showFingerprint(app, report.keyFingerprint);
  checks.replaceChildren(
    ...report.checks.map((c) => {
      // The failed check of a typing mistake is neutral, as the verdict.
      const li = element("li", undefined, c.ok ? "pass" : typed !== null ? "typed" : "fail");
      li.append(element("code", c.id));
      appendRich(li, `${c.asset ? ` [${c.asset}]` : ""}: ${c.detail}`);
      return li;
    }),
  );
  const n = report.checks.length;
  app.querySelector("#checks-summary").textContent = tPlural(n, "Show the {n} check", "Show all {n} checks");
  labelTechnical(checks);
  const details = app.querySelector("#checks-details");
  details.hidden = n === 0;
  details.open = false; // every new result starts with the lay summary
  tbody.replaceChildren(
    ...report.balances.map((b) => {
      const tr = element("tr");
      const th = element("th", b.asset);
      th.scope = "row";
      const td = element("td", `${b.display} ${b.asset}`, "number");
      // porsegregate/2: a balance split into parts is their sum; each part is its own leaf.
      if (b.parts !== null && b.parts !== undefined && b.parts > 1) {
        td.append(
          element("br"),
          element("small", t("proven in {n} parts, each under the signed root", { n: b.parts }), "balance-parts"),
        );
      }
      tr.append(th, td);
      return tr;
    }),
  );
  app.querySelector("#balances").hidden = report.balances.length === 0;
  showBalancesHelp(app, report);
  showCoverage(app, report);
  showAuditors(app, report, base);
  showLogAlert(app, report);
  showWarnings(app, report);
  const typedHelp = app.querySelector("#typed-help");
  const failureHelp = app.querySelector("#failure-help");
  typedHelp.hidden = true;
  failureHelp.hidden = true;
  if (report.verified) {
    overall.textContent = report.custodian
      ? t("Verified: your balances are included in the liabilities attested by {custodian} for epoch {epoch}.", {
          custodian: report.custodian.name,
          epoch: report.epoch,
        })
      : t("Verified: your balances are included in the liabilities attested for epoch {epoch}.", {
          epoch: report.epoch,
        });
    overall.className = "pass";
  } else if (typed !== null) {
    showTyped(app, report, typed);
  } else {
    const f = report.failed;
    // A detail that starts with a file's path (auditors/<fingerprint>/...) keeps its spelling.
    const detail = /^[^\s/]+\//.test(f.detail) ? f.detail : capitalised(f.detail);
    overall.replaceChildren();
    appendRich(overall, t("NOT verified: check {check} failed.", { check: `${f.id}${f.asset ? ` (${f.asset})` : ""}` }));
    appendRich(overall, ` ${technical()}${detail}.`);
    overall.className = "fail";
  }
  // Offer the proof once it is known to be this client's: as a record when it
  // verifies, and as evidence to show others when a later check fails.
  const own = report.proof !== null && report.checks.some((c) => c.id === "bundle-account" && c.ok);
  if (!report.verified && typed === null) showFailureHelp(app, report, own);
  download.hidden = !own;
  download.textContent = report.verified ? t("Download my proof") : t("Download this proof (evidence)");
  download.proofBlob = null;
  if (own) {
    const blob = new Blob([JSON.stringify(report.proof, null, 2)], { type: "application/json" });
    download.dataset.epoch = report.epoch ?? "proof";
    download.proofBlob = blob;
  }
}

/** The custodian key's fingerprint, shown only once it is known (never "unknown"). */
function showFingerprint(app, fingerprint) {
  app.querySelector("#fingerprint").textContent = fingerprint ? formatFingerprint(fingerprint) : "";
  app.querySelector("#fingerprint-line").hidden = !fingerprint;
}

/** Under the balances: check that these are all, at the snapshot time; only you can tell. */
function showBalancesHelp(app, report) {
  const help = app.querySelector("#balances-help");
  const shown = report.verified && report.balances.length > 0;
  help.hidden = !shown;
  if (!shown) {
    help.replaceChildren();
    return;
  }
  const who = report.custodian ? report.custodian.name : t("the custodian");
  const first = element("p");
  first.append(element("strong", t("Check that these are all your balances")));
  if (report.snapshotTime) first.append(document.createTextNode(` ${t("at the snapshot time,")} `), utcTime(report.snapshotTime));
  first.append(document.createTextNode(t(", as your statements from {custodian} show them.", { custodian: who })));
  help.replaceChildren(
    first,
    element(
      "p",
      t(
        "An asset missing from this list, or a smaller balance, is something only you can notice: " +
          "nobody else knows what you hold. If one is missing or wrong, save this page and contact " +
          "{custodian} and its auditor.",
        { custodian: who },
      ),
    ),
  );
}

/** Neutral: a failure a typing mistake explains (protocol section 9). Says what to check. */
function showTyped(app, report, typed) {
  const overall = app.querySelector("#overall");
  const help = app.querySelector("#typed-help");
  const f = report.failed;
  overall.className = "typed";
  if (f.id === "code") {
    overall.textContent = t("Check what you typed: the code is not valid.");
  } else if (f.id === "proof-found") {
    overall.textContent = t("Check what you typed: there is no proof for this code.");
  } else {
    overall.textContent = t("Check what you typed: this code is for another account id.");
  }
  const what = {
    code:
      f.id === "code"
        ? t(
            "Your client code has a typo: its checksum does not match. Compare it, group by group, with the code " +
              "the custodian gave you (dashes, spaces and lower case do not matter).",
          )
        : t(
            "No proof is published under the code you typed: a typo can turn one valid code into another. " +
              "Compare it, group by group, with the code the custodian gave you, and check the epoch.",
          ),
    "account id": t(
      "The code is valid and its proof opens, but the proof is for another account id. Check the account " +
        "id you typed: exactly as the custodian writes it (upper and lower case matter).",
    ),
  }[typed];
  const children = [element("p", what)];
  if (f.id === "proof-found") {
    children.push(
      element(
        "p",
        t(
          "If both are exactly as the custodian gave them, you were left out of the published proof: that is " +
            "not a typing mistake. Save this page, and contact the custodian and its auditor.",
        ),
      ),
    );
  }
  help.replaceChildren(...children);
  help.hidden = false;
}

/** Red: the proof failed. What to do: keep the evidence, contact the custodian and auditor. */
function showFailureHelp(app, report, own) {
  const help = app.querySelector("#failure-help");
  const who = report.custodian ? report.custodian.name : t("the custodian");
  help.replaceChildren(
    element("strong", t("This is not a typing mistake: the published proof failed a check.")),
    element(
      "p",
      (own
        ? t("Keep the evidence: download this proof (the button below) and save this page.")
        : t("Keep the evidence: save this page as it is now.")) +
        " " +
        t("Contact {custodian} and its auditor, and show them both. Do not rely on this site's numbers until they explain it.", {
          custodian: who,
        }),
    ),
  );
  help.hidden = false;
}

/**
 * "Co-signed by auditors", after a verified result: each auditor's name (their own claim), key
 * fingerprint, time and statement. A failed co-signature is a failed check, shown with the others.
 */
function showAuditors(app, report, base) {
  const section = app.querySelector("#auditors");
  const list = app.querySelector("#auditors-list");
  const auditors = report.verified && base !== null ? report.auditors : [];
  list.replaceChildren(
    ...auditors.map((a) => {
      const li = element("li", undefined, "auditor");
      const head = element("p", undefined, "auditor-head");
      const when = element("time", a.time.replace("T", " ").replace(/Z$/, " UTC"));
      when.dateTime = a.time;
      head.append(
        element("strong", a.name, "auditor-name"),
        document.createTextNode(` ${t("co-signed this attestation on")} `),
        when,
      );
      const key = element("p", `${t("Key fingerprint:")} `, "auditor-key");
      key.append(element("code", formatFingerprint(a.fingerprint), "hash"));
      const statement = element("a", t("Read the auditor's statement"));
      statement.href = new URL(`auditors/${a.fingerprint}/statement.txt`, base).href;
      statement.type = "text/plain";
      const link = element("p", undefined, "auditor-statement");
      link.append(statement);
      li.append(head, key);
      if (a.reread && a.reread.length) {
        const chains = a.reread.map((r) => t("{chain} at block {height}", { chain: r.chain, height: r.block_height })).join(", ");
        li.append(element("p", t("Read the balances of {chains} again from its own node(s).", { chains }), "auditor-reread"));
      }
      li.append(link);
      return li;
    }),
  );
  section.hidden = auditors.length === 0;
}

/** Whether the page is in English (then technical details need no label). */
function englishOnly() {
  const lang = typeof document === "undefined" ? "en" : document.documentElement.lang || "en";
  return lang === "en";
}

/** Before a check's detail on a page not in English: says the detail is in English. */
function technical() {
  return englishOnly() ? "" : `${t("Technical details (in English):")} `;
}

/** Before a list of checks: the label saying their details are in English, on purpose. */
function labelTechnical(list) {
  const previous = list.previousElementSibling;
  if (previous && previous.classList.contains("technical-label")) previous.remove();
  if (englishOnly()) return;
  list.before(element("p", t("Technical details (in English), as the command-line verifier prints them:"), "technical-label"));
}

function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function seenText(seen) {
  const parts = [tPlural(seen.size, "{n} attestation", "{n} attestations")];
  if (seen.epoch) parts.push(t("up to epoch {epoch}", { epoch: seen.epoch }));
  if (seen.time) parts.push(t("signed {time}", { time: seen.time }));
  return parts.join(", ");
}

/**
 * The red alert for a failed log-consistency check: the custodian's signed history is not the
 * one this client saw before. Said in plain words, with what to do.
 */
function showLogAlert(app, report) {
  const alert = app.querySelector("#log-alert");
  const failed = report.failed;
  if (!failed || failed.id !== "log-consistency") {
    alert.hidden = true;
    alert.replaceChildren();
    return;
  }
  const seen = report.seenCheckpoint;
  const now = report.checkpoint;
  let what;
  if (seen && now && seen.size > now.size) {
    what =
      `${t("On an earlier visit this browser saw this custodian's signed log of attestations with {seen}.", { seen: seenText(seen) })} ` +
      t("This site now shows a shorter log ({now}): you are being shown an old copy, or past attestations were removed.", {
        now: seenText(now),
      });
  } else if (seen && now && seen.size === now.size) {
    what =
      `${t("On an earlier visit this browser saw this custodian's signed log of attestations with {seen}.", { seen: seenText(seen) })} ` +
      t(
        "This site shows a log of the same size with different contents: the custodian is showing " +
          "different histories to different people (a fork), or rewrote its history.",
      );
  } else {
    what =
      (seen
        ? `${t("On an earlier visit this browser saw this custodian's signed log of attestations with {seen}.", { seen: seenText(seen) })} `
        : "") +
      t(
        "The log this site shows now is not proved to continue it: past attestations were changed or " +
          "the history was forked.",
      );
  }
  alert.replaceChildren(
    element("strong", t("Warning: this custodian's history was rewritten or forked.")),
    element("p", what),
    element(
      "p",
      t(
        "This means that something the custodian signed and published earlier has since been changed " +
          "or hidden, so what this site shows you may not be what it showed you, or others, before.",
      ),
    ),
    element(
      "p",
      t(
        "Keep the proof you saved earlier (do not delete it), and save this page. Contact the " +
          "custodian and its auditor, and show them both. This browser keeps what it saw before, " +
          "so this warning will show again.",
      ),
    ),
  );
  alert.hidden = false;
}

/**
 * Warnings that are not failures (an overdue attestation, a legal entity, document or holder of
 * the client's assets changed since the previous epoch), and what this browser remembers.
 */
function showWarnings(app, report) {
  const overdue = app.querySelector("#overdue-warning");
  overdue.hidden = report.warnings.length === 0;
  const framing = element("p", t("Warnings (technical details, in English):"), "technical-label");
  overdue.replaceChildren(
    ...(report.warnings.length && !englishOnly() ? [framing] : []),
    ...report.warnings.map((w) => {
      // "overdue: the custodian said ..." -> "<strong>Overdue:</strong> the custodian said ...".
      const at = w.indexOf(": ");
      const p = element("p");
      if (at > 0) {
        p.append(element("strong", capitalised(w.slice(0, at + 1))));
        appendRich(p, ` ${w.slice(at + 2)}.`);
      } else {
        appendRich(p, `${capitalised(w)}.`);
      }
      return p;
    }),
  );
}

function showNotes(app, notes) {
  const box = app.querySelector("#state-note");
  box.replaceChildren(...notes.map((n) => (typeof n === "string" ? richElement("p", n) : n)));
  box.hidden = notes.length === 0;
}

function epochResultCell(e) {
  const td = element("td");
  if (e.included) {
    td.append(element("span", t("included"), "status-ok"));
  } else if (e.noProof) {
    td.append(element("span", t("no proof for you in this epoch"), "muted"));
  } else {
    const f = e.report.failed;
    td.append(element("span", t("NOT verified: check {check} failed", { check: f ? f.id : "?" }), "status-bad"));
  }
  return td;
}

/** "Check all published epochs": one row per epoch of the signed log, and the history checks. */
function showHistory(app, history) {
  const section = app.querySelector("#history");
  if (history === null) {
    section.hidden = true;
    return;
  }
  const overall = app.querySelector("#history-overall");
  const tbody = app.querySelector("#epochs-table tbody");
  const newestIndex = history.epochs.length - 1;
  tbody.replaceChildren(
    ...history.epochs.map((e, i) => {
      const tr = element("tr", undefined, e.included || e.noProof ? undefined : "short");
      const th = element("th");
      th.scope = "row";
      const a = element("a", e.epoch, "mono");
      a.href = e.page;
      th.append(a);
      if (i === newestIndex && e.report === history.latest) th.append(document.createTextNode(` ${t("(newest)")}`));
      const balances = e.included ? e.report.balances.map((b) => `${b.display} ${b.asset}`).join(", ") : "—";
      tr.append(th, epochResultCell(e), element("td", balances));
      return tr;
    }),
  );
  app.querySelector("#epochs-table").hidden = history.epochs.length === 0;
  app.querySelector("#history-checks").replaceChildren(
    ...history.checks.map((c) => {
      const li = element("li", undefined, c.ok ? "pass" : "fail");
      li.append(element("code", c.id));
      appendRich(li, `: ${c.detail}`);
      return li;
    }),
  );
  labelTechnical(app.querySelector("#history-checks"));
  const included = history.epochs.filter((e) => e.included).length;
  const none = history.epochs.filter((e) => e.noProof).length;
  if (history.verified) {
    const params = { n: history.epochs.length, included, none };
    overall.textContent = none
      ? t(
          "Verified: the {n} published epochs form one signed, unbroken history; your proof is included in {included} of them, and there is no proof for you in {none}.",
          params,
        )
      : t("Verified: the {n} published epochs form one signed, unbroken history; your proof is included in {included} of them.", params);
    overall.className = "pass";
  } else {
    const f = history.failed;
    const bad = history.epochs.find((e) => !e.included && !e.noProof);
    overall.textContent = f
      ? `${t("NOT verified: check {check} failed.", { check: f.id })} ${technical()}${capitalised(f.detail)}.`
      : bad
        ? t("NOT verified: your proof in epoch {epoch} did not verify (check {check}).", {
            epoch: bad.epoch,
            check: bad.report.failed ? bad.report.failed.id : "?",
          })
        : history.latest.failed
          ? t("NOT verified: the newest epoch did not verify (check {check}).", { check: history.latest.failed.id })
          : t("NOT verified: the newest epoch did not verify.");
    overall.className = "fail";
  }
  section.hidden = false;
}

function basisPoints(percentText) {
  return percentText === null ? null : BigInt(percentText.replace(".", ""));
}

function dedicatedShortfallText(one, withBalance, params) {
  if (one) {
    return withBalance
      ? t("Your dedicated wallet holds {amount} less than your balance of {balance}: a shortfall.", params)
      : t("Your dedicated wallet holds {amount} less than your balance: a shortfall.", params);
  }
  return withBalance
    ? t("Your dedicated wallets hold {amount} less than your balance of {balance}: a shortfall.", params)
    : t("Your dedicated wallets hold {amount} less than your balance: a shortfall.", params);
}

/** "How your assets are covered": shown only for a verified result. */
function showCoverage(app, report) {
  const section = app.querySelector("#coverage");
  const alert = app.querySelector("#shortfall-alert");
  const tbody = app.querySelector("#coverage-table tbody");
  const dedicated = app.querySelector("#dedicated-wallets");
  const rows = report.verified ? report.coverage : [];
  tbody.replaceChildren(
    ...rows.map((c) => {
      const tr = element("tr", undefined, c.covered ? undefined : "short");
      const th = element("th", c.asset);
      th.scope = "row";
      const status = element("td");
      if (c.covered) {
        status.append(element("span", t("covered"), "status-ok"));
      } else if (c.segregatedPercent !== null && basisPoints(c.segregatedPercent) < 10000n) {
        status.append(
          element(
            "span",
            t("below 100 %: client assets in {asset} are not fully covered by segregated reserves", { asset: c.asset }),
            "status-bad",
          ),
        );
      } else {
        status.append(
          element(
            "span",
            t("not fully covered: dedicated wallets of some clients hold less {asset} than they are owed", { asset: c.asset }),
            "status-bad",
          ),
        );
      }
      tr.append(
        th,
        element("td", c.segregatedPercent === null ? t("nothing owed") : `${c.segregatedPercent} %`, "number"),
        element("td", c.includingThirdPartyPercent === null ? "—" : `${c.includingThirdPartyPercent} %`, "number"),
        status,
      );
      return tr;
    }),
  );
  const items = [];
  for (const c of rows) {
    for (const w of c.dedicatedWallets) {
      const li = element("li", `${t("This wallet is held for you alone:")} `, "dedicated-wallet");
      li.append(
        element("span", w.chain, "chain"),
        document.createTextNode(" "),
        element("code", w.address, "hash"),
        document.createTextNode(", "),
        element("strong", `${w.display} ${c.asset}`),
      );
      items.push(li);
    }
    if (c.dedicatedShortfall !== "0") {
      const own = report.balances.find((b) => b.asset === c.asset);
      items.push(
        element(
          "li",
          dedicatedShortfallText(c.dedicatedWallets.length === 1, own !== undefined, {
            amount: `${c.dedicatedShortfallDisplay} ${c.asset}`,
            balance: own ? `${own.display} ${c.asset}` : "",
          }),
          "status-bad dedicated-shortfall",
        ),
      );
    }
  }
  dedicated.replaceChildren(...items);
  dedicated.hidden = items.length === 0;
  section.hidden = rows.length === 0;
  const short = report.verified && report.shortfall;
  alert.hidden = !short;
  if (short) {
    const who = report.custodian ? report.custodian.name : t("the custodian");
    const mine = rows.filter((c) => !c.covered).map((c) => c.asset);
    const params = { custodian: who, epoch: report.epoch, assets: mine.join(", ") };
    alert.replaceChildren(
      element("strong", t("Shortfall: client assets are not fully covered by segregated reserves.")),
      document.createTextNode(
        ` ${
          mine.length === 0
            ? t("{custodian} signed this for epoch {epoch}.", params)
            : mine.length === 1
              ? t("{custodian} signed this for epoch {epoch}; of your assets, {assets} is affected.", params)
              : t("{custodian} signed this for epoch {epoch}; of your assets, {assets} are affected.", params)
        }`,
      ),
    );
  } else {
    alert.replaceChildren();
  }
}

function showError(app, message) {
  const overall = app.querySelector("#overall");
  overall.replaceChildren();
  appendRich(overall, `${t("NOT verified:")} ${technical()}${message}`);
  overall.className = "fail";
  app.querySelector("#checks").replaceChildren();
  app.querySelector("#checks-details").hidden = true;
  app.querySelector("#checks-details").open = false;
  app.querySelector("#balances-help").hidden = true;
  app.querySelector("#typed-help").hidden = true;
  app.querySelector("#failure-help").hidden = true;
  app.querySelector("#balances tbody").replaceChildren();
  app.querySelector("#balances").hidden = true;
  app.querySelector("#coverage").hidden = true;
  app.querySelector("#shortfall-alert").hidden = true;
  showFingerprint(app, null);
  app.querySelector("#download-proof").hidden = true;
  app.querySelector("#log-alert").hidden = true;
  app.querySelector("#overdue-warning").hidden = true;
  app.querySelector("#history").hidden = true;
  app.querySelector("#auditors").hidden = true;
}

/** localStorage, or null where the browser refuses it (a file: page, privacy settings). */
function openStorage() {
  try {
    const storage = globalThis.localStorage;
    if (!storage) return null;
    const probe = `${STORAGE_PREFIX}probe`;
    storage.setItem(probe, "1");
    storage.removeItem(probe);
    return storage;
  } catch {
    return null;
  }
}

/**
 * Where this page is: the site's root, or an earlier epoch's site kept under
 * epochs/<id>/ (whose log ends at that epoch, so the log this browser remembers from
 * the newest epoch is not compared with it; "all epochs" is checked from the root).
 */
function pageSite(app) {
  const here = new URL(".", location.href);
  const epoch = app.dataset.epoch || "";
  const archived = epoch !== "" && here.pathname.endsWith(`/epochs/${epoch}/`);
  return { base: here.href, root: archived ? new URL("../../", here).href : here.href, archived, epoch };
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
  const allButton = app.querySelector("#verify-all-button");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const all = allButton !== null && event.submitter === allButton;
    const overall = app.querySelector("#overall");
    result.hidden = false;
    overall.textContent = all ? t("Checking every published epoch…") : t("Checking…");
    overall.className = "pending";
    button.disabled = true;
    if (allButton) allButton.disabled = true;
    try {
      const accountId = app.querySelector("#account-id").value.trim();
      const code = app.querySelector("#code").value;
      const expectKey = app.querySelector("#expect-key").value.trim() || null;
      const proofDoc = await readProofFile(app.querySelector("#proof-file"));
      let report;
      let history = null;
      let base = null;
      const notes = [];
      if (proofDoc !== null) {
        if (all) {
          throw new SiteError(
            t("checking all published epochs needs the site, not a proof file: clear the file under Advanced"),
          );
        }
        // What this browser remembers is compared with the file's log, and left unchanged.
        const storage = openStorage();
        report = await verifyProof(proofDoc, accountId, code, {
          expectKey,
          state: storage === null ? null : storageState(storage),
        });
      } else if (location.protocol === "file:") {
        throw new SiteError(t("this page was opened from a file: choose your downloaded proof file under Advanced"));
      } else {
        const site = pageSite(app);
        const storage = openStorage();
        // An earlier epoch's own site has the log as it was then: checked, not compared.
        const state = storage === null || (site.archived && !all) ? null : storageState(storage);
        base = all ? site.root : site.base;
        if (all) {
          history = await verifyHistory(base, accountId, code, { expectKey, state });
          report = history.latest;
        } else {
          report = await verifySite(base, accountId, code, { expectKey, state });
        }
        if (site.archived && !all) {
          notes.push(
            t(
              "This is the page of an earlier epoch ({epoch}), kept as it was published: its log " +
                "ends at that epoch, so it is not compared with the newer log this browser may have " +
                "seen. Use “Check all published epochs” to check it as part of the whole history.",
              { epoch: site.epoch },
            ),
          );
        } else if (storage === null) {
          notes.push(
            t(
              "This browser does not let this page remember what it checked (private browsing, or " +
                "site storage is blocked), so it cannot warn you if the custodian's history is " +
                "rewritten before your next visit. `porsegregate verify --state FILE` can.",
            ),
          );
        } else if (state.problem) {
          notes.push(`${capitalised(state.problem)}.`);
        }
      }
      showReport(app, report, base);
      showHistory(app, history);
      showNotes(app, notes);
    } catch (e) {
      showError(app, e instanceof Error ? e.message : String(e));
      showNotes(app, []);
    } finally {
      button.disabled = false;
      if (allButton) allButton.disabled = false;
    }
  });
}

/**
 * The reserves page: each chain says statically whose node read its balances (the
 * custodian's); here, for each chain, every auditor whose co-signature of this attestation
 * verifies in this browser (section 14, the same check as the verifier's) and states that it
 * read that chain again at the block shown is added as "confirmed by <name> (co-signature
 * verified)". A co-signature that does not verify confirms nothing: it is not shown; nor is
 * a "confirmation" of a chain whose balances are all declared (nothing was read).
 */
async function showRereads(section) {
  const cells = [...section.querySelectorAll("td.read-by[data-chain]")];
  if (!cells.length || location.protocol === "file:") return;
  const base = new URL(".", location.href).href;
  const fetcher = globalThis.fetch.bind(globalThis);
  let checks;
  try {
    const attestation = await fetchBytes(fetcher, base, "attestation.json");
    checks = await verifyCosignatures(base, attestation, { fetch: fetcher });
  } catch {
    return; // the page's own statement stays: read by the custodian's node
  }
  for (const cell of cells) {
    const { chain, height, hash, read } = cell.dataset;
    if (read === "0") continue; // only declared balances: nothing was read, nothing to confirm
    const confirming = checks.filter(
      (c) =>
        c.ok &&
        c.reread.some((r) => r.chain === chain && String(r.block_height) === height && r.block_hash === hash),
    );
    cell.querySelector(".confirmations").replaceChildren(
      ...confirming.flatMap((c) => {
        const note = element("span", t("confirmed by {name} (co-signature verified)", { name: c.name }), "status-ok reread-confirmed");
        note.title = t("auditor key fingerprint {fingerprint}", { fingerprint: c.fingerprint });
        return [element("br"), note];
      }),
    );
  }
}

/**
 * The reserves page: every wallet's proof of control is shown as "not checked yet" until this
 * browser has verified it (verifyWalletProofs, the same check as reserves-control); then each
 * says "verified here" (green) or "does NOT verify" (red) with the reason. A page opened from a
 * file cannot fetch the attestation: its proofs stay unchecked, and say so.
 */
async function showProofs(page) {
  const cells = [...page.querySelectorAll("td.proof[data-chain]")];
  if (!cells.length) return;
  const mark = (cell, text, className) => {
    const status = cell.querySelector(".proof-status");
    status.textContent = text;
    status.className = `proof-status ${className}`;
  };
  let results;
  try {
    if (location.protocol === "file:") throw new Error(t("this page was opened from a file"));
    const base = new URL(".", location.href).href;
    const fetcher = globalThis.fetch.bind(globalThis);
    const [attestation, signature, pem] = await Promise.all(
      ["attestation.json", "attestation.json.sig", "custodian.pub.pem"].map((f) => fetchBytes(fetcher, base, f)),
    );
    results = await verifyWalletProofs(attestation, signature, strictUtf8.decode(pem));
  } catch (e) {
    for (const cell of cells) {
      mark(cell, t("not checked here ({reason}): run porsegregate verify", { reason: e instanceof Error ? e.message : String(e) }), "status-warn");
    }
    return;
  }
  for (const cell of cells) {
    const r = results.find((x) => x.chain === cell.dataset.chain && x.address === cell.dataset.address);
    if (!r) mark(cell, t("not in the signed attestation"), "status-bad");
    else if (r.ok) mark(cell, t("✓ verified here"), "status-ok");
    else mark(cell, `${t("✗ does NOT verify:")} ${r.detail}`, "status-bad");
  }
}

if (typeof document !== "undefined") {
  const app = document.getElementById("porverify-app");
  if (app) wire(app);
  const reserves = document.getElementById("reserves-app");
  if (reserves) showRereads(reserves);
  showProofs(document);
}
