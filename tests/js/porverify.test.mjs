// The browser verifier under Node's test runner: the same vectors the Python
// verifier passes (tests/vectors/), plus a real published site when
// tests/test_js.py provides one (PORSEGREGATE_TEST_SITE, PORSEGREGATE_TEST_CODES), and a
// three-epoch history with its attacks (PORSEGREGATE_HISTORY_*), checked against the verdicts
// the Python verifier reached on the same folders (PORSEGREGATE_HISTORY_EXPECT), and copies of it
// co-signed by auditors, forged and malformed (docs/protocol.md section 14).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// The page inlines site/vendor/noble.js (secp256k1, Keccak) before porverify.js; so do we.
import "../../site/vendor/noble.js";
import {
  accountCommitment,
  auditorNameProblem,
  AUDITORS_INDEX,
  canonicalJson,
  CodeError,
  controlMessage,
  dedicatedTag,
  deriveEpochKeys,
  formatAmount,
  FormatError,
  fromBase58,
  fromHex,
  isEpochHome,
  logLeafHash,
  MemoryState,
  parseAttestation,
  parseCheckpoint,
  parseCode,
  parseConsistency,
  parseEntries,
  parseInclusion,
  percent,
  publicKeyFingerprint,
  statementProblem,
  STORAGE_PREFIX,
  storageState,
  toHex,
  typedWrong,
  verifyConsistency,
  verifyCosignatures,
  verifyEd25519Control,
  verifyHistory,
  verifyInclusion,
  verifyProof,
  verifySite,
  walletIdentity,
  witnessCosignature,
  parseWitnesses,
  checkWitnessKeys,
  parseNote,
  leiProblem,
  isCalendarDate,
  legalHoldersCheck,
  legalDocumentsCheck,
  legalChanges,
  sha256,
  bundleAad,
  leafHash,
  bundleSlots,
  decodeBundle,
  decodeShard,
  decodeShardV2,
  shardBits,
  shardFile,
  shardIndex,
  shardLeaf,
  shardRootOf,
  shardV2Problem,
  sumBytes,
  FORMAT_V1,
  FORMAT_V2,
  liabilitiesSha256,
  parseManifest,
  shardPrefixChars,
  slotBytes,
} from "../../site/porverify.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const vectors = (name) => JSON.parse(readFileSync(join(here, "..", "vectors", name), "utf8"));
const proofs = vectors("proofs.json").cases;
// porsegregate/2 (issue 10): fixed-size bundles, balances in parts; the same case structure.
const proofsV2 = vectors("proofs-v2.json").cases;
// porsegregate/2 shards (issue 11): the signed manifest, a lookup id, the shard served for it.
const shardsV2 = vectors("shards-v2.json").cases;
const codes = vectors("codes.json");

test("client codes parse to the vector secrets and derive the vector keys", async () => {
  assert.ok(codes.cases.length >= 3);
  for (const c of codes.cases) {
    const secret = await parseCode(c.code);
    assert.equal(toHex(secret), c.secret, c.account_id);
    const keys = await deriveEpochKeys(secret, c.epoch);
    assert.equal(toHex(keys.nonce), c.nonce);
    assert.equal(toHex(keys.lookup), c.lookup);
    assert.equal(toHex(keys.key), c.key);
    assert.equal(toHex(await accountCommitment(c.epoch, keys.nonce, c.account_id)), c.commitment);
  }
});

test("equivalent spellings of a code give the same secret", async () => {
  for (const s of codes.equivalent_spellings) {
    assert.deepEqual(await parseCode(s.code), await parseCode(s.same_as), s.code);
  }
});

test("bad codes are rejected with the vector's error kind", async () => {
  assert.ok(codes.bad_codes.length >= 3);
  for (const b of codes.bad_codes) {
    await assert.rejects(parseCode(b.code), (e) => e instanceof CodeError && e.kind === b.error, b.code);
  }
});

test("every single-character typo in a code is caught", async () => {
  const code = codes.cases[0].code.replaceAll("-", "");
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  let caught = 0;
  let total = 0;
  for (let i = 0; i < code.length; i++) {
    for (const c of alphabet) {
      if (c === code[i]) continue;
      total++;
      try {
        await parseCode(code.slice(0, i) + c + code.slice(i + 1));
      } catch (e) {
        if (e instanceof CodeError) caught++;
      }
    }
  }
  // A 10-bit checksum misses about 1 in 1024 random changes; single typos are far rarer to miss.
  assert.ok(caught >= total - 2, `${caught} of ${total} typos caught`);
});

/** The report's coverage in the shape of Python's Report.to_json (and the vectors). */
function coverageAsPython(report) {
  return report.coverage.map((c) => ({
    asset: c.asset,
    segregated_percent: c.segregatedPercent,
    including_third_party_percent: c.includingThirdPartyPercent,
    covered: c.covered,
    dedicated_wallets: c.dedicatedWallets.map((w) => ({ chain: w.chain, address: w.address, amount: w.amount })),
    dedicated_shortfall: c.dedicatedShortfall,
  }));
}

test("a Bitcoin wallet's identity is the script bitcoinjs-lib computes, however it is spelled (T14)", async () => {
  // tests/vectors/bitcoin_signatures.json: addresses and output scripts from bitcoinjs-lib.
  const { addresses } = vectors("bitcoin_signatures.json");
  assert.ok(addresses.length >= 10);
  for (const a of addresses) {
    const chain = { kind: "bitcoin", network: a.network };
    const expected = `bitcoin:${a.network}:${a.script_pubkey}`;
    assert.equal(await walletIdentity(chain, a.address), expected, a.address);
    if (a.address.startsWith("bc1") || a.address.startsWith("tb1") || a.address.startsWith("bcrt1")) {
      assert.equal(await walletIdentity(chain, a.address.toUpperCase()), expected, "BIP-173: capitals");
      const mixed = a.address.slice(0, -1) + a.address.at(-1).toUpperCase();
      if (mixed !== a.address) await assert.rejects(walletIdentity(chain, mixed), /mixes upper and lower case/);
    }
    const flipped = a.address.slice(0, -1) + (a.address.at(-1) === "q" ? "p" : "q");
    await assert.rejects(walletIdentity(chain, flipped), /checksum|not a|neither/, flipped);
    const other = a.network === "mainnet" ? "regtest" : "mainnet";
    await assert.rejects(walletIdentity({ kind: "bitcoin", network: other }, a.address), /network|not a/);
  }
});

test("EVM and Ed25519 identities: one address on one chain id, one key on every Ed25519 entry (T14)", async () => {
  const evm = { kind: "evm", network: "1" };
  const address = "0xdAC17F958D2ee523a2206206994597C13D831ec7";
  assert.equal(await walletIdentity(evm, address), `evm:1:${address.slice(2).toLowerCase()}`);
  assert.notEqual(await walletIdentity({ kind: "evm", network: "137" }, address), await walletIdentity(evm, address));
  await assert.rejects(walletIdentity(evm, "0x1234"), /has 4 hexadecimal digits after .0x.; an address has exactly 40/);
  // EIP-55: a mixed-case address must carry its checksum (one letter's case changed here).
  await assert.rejects(walletIdentity(evm, address.replace("dAC", "dac")), /EIP-55 checksum/);
  const sol = { kind: "ed25519", network: "mainnet-beta" };
  const key = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB";
  // An Ed25519 network is only a name: the key is one wallet on every Ed25519 entry.
  assert.equal(await walletIdentity(sol, key), `ed25519:*:${toHex(fromBase58(key))}`);
  assert.equal(await walletIdentity({ kind: "ed25519", network: "devnet" }, key), await walletIdentity(sol, key));
  await assert.rejects(walletIdentity(sol, "Es9vMFrz"), /not a 32-byte public key/);
});

test("the vectors cover the reserves checks", () => {
  const reserves = proofs.filter((c) => c.name.startsWith("reserves:"));
  assert.ok(reserves.length >= 5);
  assert.ok(reserves.some((c) => c.expect.coverage?.some((x) => x.dedicated_wallets.length)));
  // secp256k1 proofs of control that do not verify: the browser fails them as Python does.
  assert.ok(proofs.some((c) => c.name.startsWith("reserves:") && c.expect.failed?.id === "reserves-control"));
});

for (const c of [...proofs, ...proofsV2]) {
  test(`proof vector: ${c.name}`, async () => {
    const r = await verifyProof(c.proof, c.account_id, c.code, { expectKey: c.expect_key });
    assert.equal(r.verified, c.expect.verified, JSON.stringify(r.failed));
    if (c.expect.verified) {
      assert.deepEqual(Object.fromEntries(r.balances.map((b) => [b.asset, b.amount])), c.expect.balances);
      assert.equal(r.failed, null);
      assert.ok(r.checks.every((k) => k.ok));
      assert.match(r.keyFingerprint, /^[0-9a-f]{64}$/);
      if ("shortfall" in c.expect) assert.equal(r.shortfall, c.expect.shortfall);
      if ("coverage" in c.expect) assert.deepEqual(coverageAsPython(r), c.expect.coverage);
      // The log checks of a porsegregate-proof/2 file, then every reserves check, in Python's
      // order, right after the attestation checks; a /1 file's report warns the log was not checked.
      const ids = r.checks.map((k) => k.id);
      const log = c.expect.log_checked ? ["log-checkpoint", "log-inclusion", "log-witnesses"] : [];
      assert.deepEqual(ids.slice(ids.indexOf("format") + 1, ids.indexOf("format") + 5 + log.length), [
        ...log,
        "reserves-control",
        "reserves-distinct",
        "reserves-commingling",
        "reserves-coverage",
      ]);
      assert.equal(r.checkpoint !== null, c.expect.log_checked);
      assert.equal(r.warnings.filter((w) => w.startsWith("log not checked")).length, c.expect.log_checked ? 0 : 1);
      assert.equal(r.coverage.length, r.balances.length);
      // porsegregate/2: each balance is the sum of as many parts as the attestation's `parts`.
      const attested = parseAttestation(Buffer.from(c.proof.attestation, "base64"));
      if (attested.format === FORMAT_V2) for (const b of r.balances) assert.equal(b.parts, attested.parts, c.name);
    } else {
      assert.deepEqual({ id: r.failed.id, asset: r.failed.asset }, c.expect.failed);
      assert.equal(r.checks.at(-1), r.failed, "verification stops at the first failing check");
      assert.deepEqual(r.balances, []);
    }
  });
}

test("canonical JSON matches the Python RFC 8785 serialiser on every vector attestation", () => {
  const seen = new Set(proofs.map((c) => c.proof.attestation));
  let canonical = 0;
  for (const b64 of seen) {
    const text = Buffer.from(b64, "base64").toString("utf8");
    let doc;
    try {
      doc = JSON.parse(text);
    } catch {
      continue;
    }
    let again;
    try {
      again = canonicalJson(doc);
    } catch (e) {
      // Only the lone-surrogate vector has no canonical form at all (Python refuses it too).
      assert.match(e.message, /lone surrogate/);
      continue;
    }
    if (again === text) canonical++;
  }
  assert.ok(canonical >= seen.size - 4, `${canonical} of ${seen.size}`);
  assert.throws(() => canonicalJson({ a: "\ud800" }), /lone surrogate/);
  assert.throws(() => canonicalJson({ "\udfff": 1 }), /lone surrogate/);
  assert.equal(canonicalJson({ b: [1, "é\n"], a: null, "\u00e9": true, A: -0 }), '{"A":0,"a":null,"b":[1,"é\\n"],"é":true}');
});

test("any flipped byte of the encrypted entry fails", async () => {
  const c = proofs.find((p) => p.expect.verified);
  const entry = Buffer.from(c.proof.entry, "base64");
  for (const at of [0, 11, 12, Math.floor(entry.length / 2), entry.length - 1]) {
    const bad = Buffer.from(entry);
    bad[at] ^= 0x40;
    const r = await verifyProof({ ...c.proof, entry: bad.toString("base64") }, c.account_id, c.code);
    assert.equal(r.verified, false);
    assert.equal(r.failed.id, "decrypt", `byte ${at}`);
  }
});

test("a malformed proof file is an error, not a verdict", async () => {
  const c = proofs[0];
  for (const [field, value] of [
    ["format", "porsegregate-proof/0"],
    ["lookup", "XYZ"],
    ["entry", "not base64!"],
    ["attestation", 7],
  ]) {
    await assert.rejects(verifyProof({ ...c.proof, [field]: value }, c.account_id, c.code), /proof|base64/);
  }
  // A porsegregate-proof/2 file must carry each required log file, by its published name
  // (docs/protocol.md section 10): the error names what is missing, as Python's does.
  const files = c.proof.log_files;
  const inclusion = Object.keys(files).find((n) => n.startsWith("log/inclusion/"));
  const drop = (name) => Object.fromEntries(Object.entries(files).filter(([n]) => n !== name));
  const { log_files: _, ...noLog } = c.proof;
  for (const [doc, message] of [
    [noLog, /^proof\.log_files is missing$/],
    [{ ...c.proof, log_files: drop("log/checkpoint.json") }, /^proof\.log_files has no log\/checkpoint\.json$/],
    [{ ...c.proof, log_files: drop("log/checkpoint.json.sig") }, /^proof\.log_files has no log\/checkpoint\.json\.sig$/],
    [{ ...c.proof, log_files: drop(inclusion) }, /^proof\.log_files must hold exactly one log\/inclusion\/<n-1>\.json/],
    [{ ...c.proof, log_files: { ...files, "log/entries.json": "" } }, /"log\/entries\.json" is not a file a proof file carries/],
    [{ ...c.proof, log_files: { ...files, "log/checkpoint.json": "not base64!" } }, /log\/checkpoint\.json.* is not valid base64/],
    [{ ...c.proof, format: "porsegregate-proof/3" }, /not a porsegregate-proof\/2/],
  ]) {
    await assert.rejects(verifyProof(doc, c.account_id, c.code), (e) => e instanceof FormatError && message.test(e.message));
  }
});

test("base58 decodes the Bitcoin alphabet exactly (vectors from Python's base58)", () => {
  for (const [hex, text] of [
    ["61", "2g"],
    ["626262", "a3gV"],
    ["636363", "aPEr"],
    ["73696d706c6520737472696e67", "AcYmLbFRT1EJ7yPPka"],
    ["00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"],
    ["516b6fcd0f", "ABnLTmg"],
    ["bf4f89001e670274dd", "3SEo3LWLoPntC"],
    ["572e4794", "3EFU7m"],
    ["ecac89cad93923c02321", "EJDM8drfXA6uyA"],
    ["10c8511e", "Rt5zm"],
    ["00000000000000000000", "1111111111"],
    ["0000ff", "115Q"],
    ["ff", "5Q"],
    ["79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664", "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj"],
  ]) {
    assert.equal(toHex(fromBase58(text)), hex, text);
  }
  for (const bad of ["", "0", "O", "I", "l", "abc def", "2g\n", "+", 7]) {
    assert.throws(() => fromBase58(bad), FormatError, String(bad));
  }
});

test("Ed25519 proof of control: base58 or hex signatures, over the exact message", async () => {
  // Made with porsegregate.chains.ed25519.sign("hello\nworld é", bytes(range(1, 33))).
  const address = "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj";
  const sig = "5jwuv4SWg6vUr1egNxVP41KviiBuuFiJfNT4ipzE2zZyqFUo37fH8AEvQarzPwy8gTiBmNycgSzNwjejwXtwQx59";
  const key = await verifyEd25519Control("hello\nworld é", address, sig);
  assert.equal(toHex(key), "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664");
  const hex = toHex(fromBase58(sig));
  await verifyEd25519Control("hello\nworld é", address, hex);
  await verifyEd25519Control("hello\nworld é", address, "0x" + hex.toUpperCase());
  for (const [message, addr, signature, why] of [
    ["hello\nworld e", address, sig, /does not verify/],
    ["hello\nworld é\n", address, sig, /does not verify/],
    ["hello\nworld é", address, hex.slice(2), /64 bytes/],
    ["hello\nworld é", address, sig.slice(1), /64 bytes|does not verify/],
    ["hello\nworld é", address.slice(1), sig, /32-byte|not a valid|does not verify/],
    ["hello\nworld é", "0x" + "ab".repeat(20), sig, /not a base58/],
  ]) {
    await assert.rejects(verifyEd25519Control(message, addr, signature), why, `${message} ${addr} ${signature}`);
  }
});

test("the dedicated-wallet tag matches Python's dedicated_tag", async () => {
  const c = codes.cases[0];
  assert.equal(
    toHex(await dedicatedTag(c.epoch, fromHex(c.nonce), c.account_id, "ethereum", "0x9DAAaa747f71A0E28b919603b94ca792Ef936bD8")),
    "30d2b3bba4323feaf4ae0ee36a0512525aeafd286517ebbdbcad4e2d6b2462f2",
  );
  const nonce = Uint8Array.from({ length: 32 }, (_, i) => i);
  assert.equal(
    toHex(await dedicatedTag("2026-11", nonce, "Zoë Ünïcødé", "solana", "So11111111111111111111111111111111111111112")),
    "aa5f25b0835a172a3ae9ad9a5dd387fd1dff77c7155aed381d99cc66cb149dbc",
  );
  // And the dedicated client of the vectors finds their own wallet's tag in the signed attestation.
  const v = proofs.find((p) => p.expect.coverage?.some((x) => x.dedicated_wallets.length));
  const attestation = parseAttestation(Buffer.from(v.proof.attestation, "base64"));
  const keys = await deriveEpochKeys(await parseCode(v.code), attestation.epochId);
  const tags = attestation.reserves.wallets.filter((w) => w.clientTag).map((w) => toHex(w.clientTag));
  const own = attestation.reserves.wallets.find((w) => w.category === "client_dedicated");
  assert.ok(tags.includes(toHex(await dedicatedTag(attestation.epochId, keys.nonce, v.account_id, own.chain, own.address))));
});

test("the control message is Python's, line for line", () => {
  const text = controlMessage({
    custodian: "Example Custody Ltd",
    fingerprint: "ab".repeat(32),
    epoch: "2026-11",
    liabilitiesSha256: "cd".repeat(32),
    chain: "solana",
    address: "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj",
    category: "client_dedicated",
    holder: "Trust Ltd",
    clientTag: fromHex("ef".repeat(32)),
  });
  assert.equal(
    text,
    [
      "porsegregate proof of control (porsegregate/1)",
      "custodian: Example Custody Ltd",
      `custodian key: ${"ab".repeat(32)}`,
      "epoch: 2026-11",
      `liabilities: ${"cd".repeat(32)}`,
      "chain: solana",
      "address: 9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj",
      "category: client_dedicated",
      "holder: Trust Ltd",
      `client: ${"ef".repeat(32)}`,
    ].join("\n"),
  );
  assert.match(controlMessage({ clientTag: null }), /\nclient: none$/);
});

test("the reserves section is parsed as strictly as Python's parse_reserves", () => {
  const v = proofs.find((p) => p.expect.coverage?.some((x) => x.dedicated_wallets.length));
  const original = JSON.parse(Buffer.from(v.proof.attestation, "base64").toString("utf8"));
  const parse = (edit) => {
    const doc = structuredClone(original);
    edit(doc.reserves);
    return () => parseAttestation(Buffer.from(canonicalJson(doc)));
  };
  const parsed = parse(() => {})();
  assert.equal(parsed.reserves.shortfall, false);
  assert.equal(typeof parsed.reserves.coverage[0].liabilities, "bigint");
  assert.equal(typeof parsed.reserves.wallets[0].holdings[0].amount, "bigint");
  const wallet = (r, category) => r.wallets.find((w) => w.category === category);
  // Each message says what is wrong (this module's own wording; Python's may differ).
  for (const [name, edit, message] of [
    ["http explorer", (r) => (r.chains[1].explorer.address = "http://etherscan.io/address/{address}"), /reserves\.chains\[1\]\.explorer\.address must be null or an https:\/\/ URL template/],
    ["javascript: explorer", (r) => (r.chains[1].explorer.block = "javascript:alert(1)"), /explorer\.block must be null or an https:\/\/ URL template/],
    ["rounder percent", (r) => (r.coverage[0].segregated_percent = "100.01"), /reserves\.coverage\[0\]\.segregated_percent does not match its figures/],
    ["percent as a number", (r) => (r.coverage[0].segregated_percent = 100), /segregated_percent must be null or a string/],
    ["third-party percent", (r) => (r.coverage[0].including_third_party_percent = "102.22"), /including_third_party_percent does not match/],
    ["covered flipped", (r) => (r.coverage[1].covered = false), /reserves\.coverage\[1\]\.covered does not match its figures/],
    ["shortfall flipped", (r) => (r.shortfall = true), /reserves\.shortfall does not match the coverage rows/],
    ["liabilities not the signed total", (r) => {
      r.coverage[0].liabilities = "1";
      r.coverage[0].segregated_percent = "22525000000.00";
      r.coverage[0].including_third_party_percent = "23025000000.00";
    }, /reserves\.coverage BTC: liabilities differ from the signed total/],
    ["coverage row missing", (r) => r.coverage.pop(), /must list every liabilities asset once, sorted/],
    ["wallets out of order", (r) => r.wallets.reverse(), /must be sorted by category, holder, chain, address/],
    ["wallet twice", (r) => r.wallets.splice(1, 0, structuredClone(r.wallets[0])), /lists the same chain and address twice/],
    ["chains out of order", (r) => r.chains.reverse(), /reserves\.chains must be sorted by id without duplicates/],
    ["tag on an omnibus wallet", (r) => (wallet(r, "client_segregated").client_tag = "ab".repeat(32)), /client_tag is required for, and only for, client_dedicated/],
    ["dedicated without tag", (r) => (wallet(r, "client_dedicated").client_tag = null), /client_tag is required for, and only for, client_dedicated/],
    ["upper-case tag", (r) => (wallet(r, "client_dedicated").client_tag = "AB".repeat(32)), /client_tag must be lowercase hex of 64 digits/],
    ["asset not on the chain", (r) => (r.wallets[0].holdings[0].asset = "ETH"), /is not an asset of chain bitcoin/],
    ["amount with a sign", (r) => (r.wallets[0].holdings[0].amount = "-1"), /is not a smallest-unit decimal string/],
    ["unknown source", (r) => (r.wallets[0].holdings[0].source = "oracle"), /source must be 'chain' or 'declared'/],
    ["proof type of another chain", (r) => (r.wallets[0].proof.type = "eip191"), /proof\.type "eip191" is not a proof type for bitcoin/],
    ["unproven with a signature", (r) => (r.wallets[0].proof.type = "none"), /an unproven wallet has evidence, and no signature or public key/],
    ["key withheld", (r) => (wallet(r, "proprietary").proof.public_key = null), /proof\.public_key is missing \(eip191 reveals the key\)/],
    ["odd-length public key", (r) => (r.wallets[0].proof.public_key += "a"), /proof must be lowercase hex/],
    ["upper-case public key", (r) => (r.wallets[0].proof.public_key = r.wallets[0].proof.public_key.toUpperCase()), /proof must be lowercase hex/],
    ["holder with a newline", (r) => (r.wallets[0].holder = "Trust\ncategory: proprietary"), /holder: contains a control or line-break character/],
    ["holder with U+001C first", (r) => (r.wallets[0].holder = "\u001cTrust"), /holder: must be non-empty without leading or trailing spaces/],
    ["holder with U+0085 last", (r) => (r.wallets[0].holder = "Trust\u0085"), /holder: must be non-empty without leading or trailing spaces/],
    ["holder too long", (r) => (r.wallets[0].holder = "T".repeat(201)), /holder: is longer than 200 characters/],
    ["address with a space", (r) => (r.wallets[0].address = ` ${r.wallets[0].address}`), /address: must be non-empty/],
    ["kind unknown", (r) => (r.chains[0].kind = "utxo"), /kind "utxo" is not one of evm, bitcoin, ed25519/],
    ["height too big", (r) => (r.chains[0].block.height = 2 ** 53), /must be an integer|out of range/],
    ["chain id upper case", (r) => (r.chains[0].id = "Bitcoin"), /chain id "Bitcoin"/],
    ["shortfall count negative", (r) => (r.coverage[0].dedicated_shortfalls = -1), /dedicated_shortfalls is out of range/],
  ]) {
    assert.throws(parse(edit), (e) => e instanceof FormatError && message.test(e.message), name);
  }
  // What Python accepts, this accepts: U+FEFF is not white space to the protocol (as to Python's
  // str.strip()), and holders are compared by code point when checking the order (not by UTF-16 unit).
  parse((r) => {
    for (const w of r.wallets) w.holder = `${w.holder}\ufeff`;
  })();
  parse((r) => {
    const sameCategory = r.wallets.filter((w) => w.category === "client_segregated");
    assert.ok(sameCategory.length >= 2);
    sameCategory[0].holder = "Trust \uffff";
    for (const w of sameCategory.slice(1)) w.holder = "Trust \u{1F600}";
  })();
  assert.throws(parse((r) => {
    const sameCategory = r.wallets.filter((w) => w.category === "client_segregated");
    sameCategory[0].holder = "Trust \u{1F600}";
    for (const w of sameCategory.slice(1)) w.holder = "Trust \uffff";
  }), /must be sorted by category, holder, chain, address/);
});

test("coverage percentages are rounded down to two decimals", () => {
  assert.equal(percent(1n, 3n), "33.33");
  assert.equal(percent(2n, 3n), "66.66");
  assert.equal(percent(5n, 5n), "100.00");
  assert.equal(percent(9999n, 10000n), "99.99");
  assert.equal(percent(99999n, 100000n), "99.99");
  assert.equal(percent(0n, 7n), "0.00");
  assert.equal(percent(3n, 1n), "300.00");
  assert.equal(percent(1n, 0n), null);
  assert.equal(percent((1n << 128n) - 1n, 1n), `${((1n << 128n) - 1n) * 100n}.00`);
});

test("amounts are formatted exactly, without floats", () => {
  assert.equal(formatAmount(150000000n, 8), "1.5");
  assert.equal(formatAmount("0", 18), "0");
  assert.equal(formatAmount(12000000000000000001n, 18), "12.000000000000000001");
  assert.equal(formatAmount((1n << 128n) - 1n, 0), "340282366920938463463374607431768211455");
  assert.equal(formatAmount(7n, 6), "0.000007");
});

// ------------------------------------------------------------- legal entities and documents (issue 14)

const LEI_TRUST = "5493001KJTIIGC8Y1R12";
const LEI_OPCO = "529900T8BM49AURSDO55";
const DEED_SHA = "a".repeat(64);
const SUB_SHA = "b".repeat(64);

/** A legal member fitting the vector attestation's wallets (their holders are its entities). */
function vectorLegal() {
  return {
    entities: [
      { name: "Vector Bank plc", role: "sub_custodian", jurisdiction: "GB", lei: null, registration: "00014259" },
      { name: "Vector Client Trust", role: "trustee", jurisdiction: "GB", lei: LEI_TRUST, registration: null },
      { name: "Vector Custody Ltd (own funds)", role: "operating_company", jurisdiction: "GB-ENG", lei: LEI_OPCO, registration: "12345678" },
    ],
    documents: [
      {
        title: "Declaration of trust over client assets",
        kind: "trust_deed",
        date: "2026-01-15",
        binds: ["Vector Client Trust", "Vector Custody Ltd (own funds)"],
        sha256: DEED_SHA,
        file: `documents/${DEED_SHA}.pdf`,
      },
      {
        title: "Sub-custody agreement",
        kind: "sub_custody_agreement",
        date: "2026-02-01",
        binds: ["Vector Bank plc", "Vector Client Trust"],
        sha256: SUB_SHA,
        file: null,
      },
    ],
  };
}

/** The vector attestation with `legal` (edited by `edit(legal, doc)`), parsed. */
function withLegal(edit = () => {}) {
  return parseAttestation(
    editedAttestation((doc) => {
      doc.legal = vectorLegal();
      edit(doc.legal, doc);
    }),
  );
}

test("legal: a well-formed legal member is parsed; absent is null", () => {
  const a = withLegal();
  assert.deepEqual(a.legal, vectorLegal());
  assert.equal(parseAttestation(editedAttestation(() => {})).legal, null);
  // A document needs not be published (file null), and there may be no documents.
  assert.deepEqual(withLegal((l) => (l.documents = [])).legal.documents, []);
  // Equal (date, title) pairs are in order; a subdivision and an extension-less file are allowed.
  withLegal((l) => {
    l.documents[1].date = l.documents[0].date;
    l.documents[1].title = l.documents[0].title;
    l.entities[0].jurisdiction = "US-DE";
    l.documents[0].file = `documents/${DEED_SHA}`;
  });
});

test("legal: ISO 17442 LEIs are checked with ISO 7064 MOD 97-10 (real LEIs pass)", () => {
  for (const lei of [LEI_TRUST, LEI_OPCO, "HWUPKR0MPOU8FGXBT394", "7LTWFZYICNSX8D621K86"]) {
    assert.equal(leiProblem(lei), null, lei);
  }
  const digits = "must be 20 characters 0-9 or A-Z, the last two digits (ISO 17442)";
  const check = "its check digits are wrong (ISO 7064 MOD 97-10): a mistyped LEI";
  assert.equal(leiProblem("5493001KJTIIGC8Y1R13"), check);
  assert.equal(leiProblem("5493001KJTIIGC8Y1S12"), check, "one letter mistyped");
  assert.equal(leiProblem("4593001KJTIIGC8Y1R12"), check, "two digits swapped");
  assert.equal(leiProblem("5493001KJTIIGC8Y1R1"), digits);
  assert.equal(leiProblem("5493001KJTIIGC8Y1R120"), digits);
  assert.equal(leiProblem("5493001kjtiigc8y1r12"), digits);
  assert.equal(leiProblem("5493001KJTIIGC8Y1RA2"), digits, "a letter among the check digits");
  assert.equal(leiProblem("5493001KJTIIGC8Y1R1\u0662"), digits, "a non-ASCII digit");
  // Every LEI has 18 characters then 2 check digits: 98 - (base * 100 mod 97) makes it pass.
  let remainder = 0n;
  for (const ch of "5493001KJTIIGC8Y1R") remainder = BigInt(`${remainder}${parseInt(ch, 36)}`) % 97n;
  const digitsFor = (98n - ((remainder * 100n) % 97n)).toString().padStart(2, "0");
  assert.equal(digitsFor, "12");
});

test("legal: dates must exist in the calendar", () => {
  for (const d of ["2026-01-15", "2024-02-29", "2000-02-29", "0001-01-01", "9999-12-31"]) assert.ok(isCalendarDate(d), d);
  for (const d of ["2026-02-30", "2026-02-29", "1900-02-29", "2026-04-31", "2026-13-01", "2026-00-10", "2026-01-00", "0000-01-01", "2026-1-15", "2026-01-15T00:00:00Z", "20260115"]) {
    assert.equal(isCalendarDate(d), false, d);
  }
});

test("legal: every malformed legal member is a FormatError naming the member", () => {
  const deedFile = `documents/${DEED_SHA}.pdf`;
  for (const [name, edit, message] of [
    ["legal null", (l, d) => (d.legal = null), "legal must be an object"],
    ["unknown member", (l) => (l.wallets = []), "legal has unknown member(s) wallets"],
    ["entities missing", (l) => delete l.entities, "legal.entities is missing"],
    ["no entities", (l) => { l.entities = []; l.documents = []; }, "legal.entities must list 1 to 100 entities"],
    ["101 entities", (l) => {
      l.documents = [];
      l.entities = Array.from({ length: 101 }, (_, i) => ({ name: `E${String(i).padStart(3, "0")}`, role: "other", jurisdiction: "GB", lei: null, registration: "1" }));
    }, "legal.entities must list 1 to 100 entities"],
    ["bad LEI check digits", (l) => (l.entities[1].lei = "5493001KJTIIGC8Y1R13"), 'legal.entities[1].lei "5493001KJTIIGC8Y1R13": its check digits are wrong (ISO 7064 MOD 97-10): a mistyped LEI'],
    ["LEI of 19 characters", (l) => (l.entities[1].lei = "5493001KJTIIGC8Y1R1"), 'legal.entities[1].lei "5493001KJTIIGC8Y1R1": must be 20 characters 0-9 or A-Z, the last two digits (ISO 17442)'],
    ["LEI in lower case", (l) => (l.entities[2].lei = LEI_OPCO.toLowerCase()), 'legal.entities[2].lei "529900t8bm49aursdo55": must be 20 characters 0-9 or A-Z, the last two digits (ISO 17442)'],
    ["LEI a number", (l) => (l.entities[1].lei = 1), "legal.entities[1].lei must be null or a string of at most 4000 chars"],
    ["unknown role", (l) => (l.entities[0].role = "bank"), 'legal.entities[0].role "bank" is not one of custodian, trustee, bankruptcy_remote_vehicle, sub_custodian, operating_company, nominee, other'],
    ["role with spaces", (l) => (l.entities[0].role = "sub custodian"), 'legal.entities[0].role "sub custodian" is not one of custodian, trustee, bankruptcy_remote_vehicle, sub_custodian, operating_company, nominee, other'],
    ["jurisdiction lower case", (l) => (l.entities[0].jurisdiction = "gb"), 'legal.entities[0].jurisdiction "gb" is not an ISO 3166-1 alpha-2 code (optionally -subdivision, as GB or US-DE)'],
    ["jurisdiction alpha-3", (l) => (l.entities[0].jurisdiction = "GBR"), 'legal.entities[0].jurisdiction "GBR" is not an ISO 3166-1 alpha-2 code (optionally -subdivision, as GB or US-DE)'],
    ["subdivision too long", (l) => (l.entities[0].jurisdiction = "GB-ENGL"), 'legal.entities[0].jurisdiction "GB-ENGL" is not an ISO 3166-1 alpha-2 code (optionally -subdivision, as GB or US-DE)'],
    ["unsorted entities", (l) => l.entities.reverse(), "legal.entities must be sorted by name (code point order): entities[1] is out of place"],
    ["duplicate names", (l) => {
      l.entities[2] = { ...l.entities[1], lei: null, registration: "1" };
      l.documents[0].binds = ["Vector Client Trust"];
    }, 'legal.entities[2].name "Vector Client Trust" is declared twice'],
    ["no lei and no registration", (l) => (l.entities[0].registration = null), "legal.entities[0]: an entity needs an lei or a registration (or both)"],
    ["registration too long", (l) => (l.entities[0].registration = "1".repeat(101)), "legal.entities[0].registration: is longer than 100 characters"],
    ["registration empty", (l) => (l.entities[0].registration = ""), "legal.entities[0].registration: must be non-empty without leading or trailing spaces"],
    ["name with a newline", (l) => (l.entities[0].name = "Vector\nBank"), "legal.entities[0].name: contains a control or line-break character"],
    ["name with a trailing space", (l) => (l.entities[0].name = "Vector Bank plc "), "legal.entities[0].name: must be non-empty without leading or trailing spaces"],
    ["entity member missing", (l) => delete l.entities[0].lei, "legal.entities[0].lei is missing"],
    ["entity member unknown", (l) => (l.entities[0].country = "GB"), "legal.entities[0] has unknown member(s) country"],
    ["document binds an undeclared entity", (l) => (l.documents[1].binds = ["Vector Bank plc", "Vector Trust"]), 'legal.documents[1].binds[1] "Vector Trust" is not a declared entity'],
    ["document binds nobody", (l) => (l.documents[1].binds = []), "legal.documents[1].binds must name at least one entity"],
    ["binds unsorted", (l) => l.documents[1].binds.reverse(), "legal.documents[1].binds must be sorted by name without duplicates"],
    ["binds twice", (l) => (l.documents[1].binds = ["Vector Bank plc", "Vector Bank plc"]), "legal.documents[1].binds must be sorted by name without duplicates"],
    ["bad date 2026-02-30", (l) => (l.documents[1].date = "2026-02-30"), 'legal.documents[1].date "2026-02-30" is not a calendar date YYYY-MM-DD'],
    ["date with a time", (l) => (l.documents[1].date = "2026-02-01T00:00:00Z"), 'legal.documents[1].date "2026-02-01T00:00:00Z" is not a calendar date YYYY-MM-DD'],
    ["unknown kind", (l) => (l.documents[0].kind = "deed"), 'legal.documents[0].kind "deed" is not one of trust_deed, custody_agreement, legal_opinion, sub_custody_agreement, other'],
    ["title empty", (l) => (l.documents[0].title = ""), "legal.documents[0].title: must be non-empty without leading or trailing spaces"],
    ["documents unsorted", (l) => l.documents.reverse(), "legal.documents must be sorted by date, then title: documents[1] is out of place"],
    ["same date, titles unsorted", (l) => {
      l.documents[1].date = l.documents[0].date;
      l.documents[1].title = "A sub-custody agreement";
    }, "legal.documents must be sorted by date, then title: documents[1] is out of place"],
    ["duplicate sha256", (l) => (l.documents[1].sha256 = DEED_SHA), "legal.documents[1].sha256 is the sha256 of legal.documents[0] too"],
    ["sha256 upper case", (l) => (l.documents[1].sha256 = SUB_SHA.toUpperCase()), "legal.documents[1].sha256 must be 64 lowercase hex digits"],
    ...[
      ["another document's hash", `documents/${SUB_SHA}.pdf`],
      ["another folder", `docs/${DEED_SHA}.pdf`],
      ["a path", `documents/../${DEED_SHA}.pdf`],
      ["an upper-case extension", `documents/${DEED_SHA}.PDF`],
      ["two extensions", `documents/${DEED_SHA}.tar.gz`],
      ["an extension of 9", `documents/${DEED_SHA}.abcdefghi`],
      ["a bare dot", `documents/${DEED_SHA}.`],
      ["a title", "documents/trust-deed.pdf"],
      ["empty", ""],
    ].map(([what, file]) => [
      `bad file name: ${what}`,
      (l) => (l.documents[0].file = file),
      `legal.documents[0].file ${JSON.stringify(file)} must be null or documents/<its sha256><extension> (an extension is a dot and 1 to 8 of a-z 0-9)`,
    ]),
    ["document member missing", (l) => delete l.documents[0].file, "legal.documents[0].file is missing"],
  ]) {
    assert.throws(
      () => withLegal(edit),
      (e) => e instanceof FormatError && e.message === message,
      `${name}: expected ${message}`,
    );
  }
  assert.equal(withLegal((l) => (l.documents[0].file = deedFile)).legal.documents[0].file, deedFile);
});

test("legal-holders: every holder is declared; the operating company holds no client assets", () => {
  const ok = legalHoldersCheck(withLegal());
  assert.deepEqual(ok, {
    id: "legal-holders",
    ok: true,
    detail: "every wallet's holder is one of the 3 declared legal entities, and no client wallet is held by the operating company",
    asset: null,
  });
  const undeclared = legalHoldersCheck(
    withLegal((l) => {
      l.entities.shift();
      l.documents.pop();
    }),
  );
  assert.deepEqual(undeclared, {
    id: "legal-holders",
    ok: false,
    detail: 'bitcoin bc1qreg6rc9g90v8zd3gzw0fv8st8lgg9g5a6cjjyf (third_party): its holder "Vector Bank plc" is not a declared entity',
    asset: null,
  });
  // The trust's own role is the operating company's: every client wallet is named.
  const opco = legalHoldersCheck(withLegal((l) => (l.entities[1].role = "operating_company")));
  assert.equal(opco.ok, false);
  const problems = opco.detail.split("; ");
  assert.deepEqual(problems.map((p) => p.slice(0, p.indexOf(":"))), [
    "bitcoin bc1qxe5ydzrg7gf4k00wazst06atqpfcdxqnuwnkcx (client_segregated)",
    "ethereum 0xd482bf3c2460789f6BCdcF6ED4fdC1a5C5508993 (client_segregated)",
    "solana 6bFa2aiARbQHLVmApQH18CjJXpqxuPVLfjgyE8U3E2nM (client_segregated)",
    "ethereum 0x9DAAaa747f71A0E28b919603b94ca792Ef936bD8 (client_dedicated)",
  ]);
  assert.equal(
    problems[0],
    'bitcoin bc1qxe5ydzrg7gf4k00wazst06atqpfcdxqnuwnkcx (client_segregated): its holder "Vector Client Trust" is ' +
      "the custodian's operating company, which cannot be the protective holder of client assets (client_segregated)",
  );
  // The operating company may hold its own funds and third-party wallets.
  assert.equal(legalHoldersCheck(withLegal((l) => (l.entities[0].role = "operating_company"))).ok, true);
  // No legal member: the check passes, saying so (the same check ids either way).
  assert.deepEqual(legalHoldersCheck(parseAttestation(editedAttestation(() => {}))), {
    id: "legal-holders",
    ok: true,
    detail: "the attestation declares no legal entities",
    asset: null,
  });
});

/** A site in memory for legalDocumentsCheck: the manifest's files, and the bytes served. */
function documentSite(files, served, asked = []) {
  return {
    base: BASE,
    manifest: { files },
    fetcher: async (url) => {
      const rel = new URL(url).pathname.replace(/^\/site\//, "");
      asked.push(rel);
      return served[rel] === undefined ? new Response("not found", { status: 404 }) : new Response(served[rel], { status: 200 });
    },
  };
}

test("legal-documents: a published document is fetched, listed in the manifest and has its signed hash", async () => {
  const deed = new TextEncoder().encode("%PDF-1.7 a declaration of trust");
  const deedSha = toHex(await sha256(deed));
  const file = `documents/${deedSha}.pdf`;
  const attestation = withLegal((l) => {
    l.documents[0].sha256 = deedSha;
    l.documents[0].file = file;
  });
  const asked = [];
  assert.deepEqual(await legalDocumentsCheck(attestation, documentSite({ [file]: deedSha }, { [file]: deed }, asked)), {
    id: "legal-documents",
    ok: true,
    detail: "1 published document matches its signed SHA-256; 1 document is published as a hash only (shown to auditors)",
    asset: null,
  });
  assert.deepEqual(asked, [file], "only the published document is fetched");
  const named = `${file} (Declaration of trust over client assets)`;
  const altered = Uint8Array.from(deed);
  altered[0] ^= 1;
  const alteredSha = toHex(await sha256(altered));
  // The details are Python's (docs/protocol.md section 12), checked in its order.
  for (const [name, files, served, detail] of [
    ["bytes other than the hash", { [file]: deedSha }, { [file]: altered }, `${named}: its bytes do not match the sha256 the attestation signs`],
    ["bytes and manifest other than the hash", { [file]: alteredSha }, { [file]: altered }, `${named}: its bytes do not match the sha256 the attestation signs`],
    ["missing from the site", { [file]: deedSha }, {}, `${named} is missing from the site`],
    ["missing from the manifest", {}, { [file]: deed }, `${named} is not listed in the signed manifest with its sha256`],
    ["listed with another hash", { [file]: alteredSha }, { [file]: deed }, `${named} is not listed in the signed manifest with its sha256`],
  ]) {
    assert.deepEqual(
      await legalDocumentsCheck(attestation, documentSite(files, served)),
      { id: "legal-documents", ok: false, detail, asset: null },
      name,
    );
  }
  assert.deepEqual(await legalDocumentsCheck(parseAttestation(editedAttestation(() => {})), documentSite({}, {}, asked)), {
    id: "legal-documents",
    ok: true,
    detail: "the attestation declares no legal entities",
    asset: null,
  });
  assert.equal(asked.length, 1, "nothing is fetched without a legal member");
});

// tests/vectors/legal.json: proof files whose attestations declare `legal` (tests/vectors/generate.py),
// with Python's verdicts. Absent only before the vectors exist: tests/test_js.py requires no skips.
const legalVectors = (() => {
  try {
    return vectors("legal.json").cases;
  } catch (e) {
    if (e.code === "ENOENT") return null;
    throw e;
  }
})();

test("legal vectors: every case reaches Python's verdict", { skip: legalVectors === null }, async () => {
  assert.ok(legalVectors.length >= 4);
  assert.ok(legalVectors.some((c) => c.expect.verified) && legalVectors.some((c) => c.expect.failed?.id === "legal-holders"));
  for (const c of legalVectors) {
    const r = await verifyProof(c.proof, c.account_id, c.code, { expectKey: c.expect_key });
    assert.equal(r.verified, c.expect.verified, `${c.name}: ${JSON.stringify(r.failed)}`);
    if (c.expect.verified) {
      assert.deepEqual(Object.fromEntries(r.balances.map((b) => [b.asset, b.amount])), c.expect.balances, c.name);
      assert.equal(r.shortfall, c.expect.shortfall, c.name);
      assert.ok(r.checks.every((k) => k.ok), c.name);
      const ids = r.checks.map((k) => k.id);
      assert.equal(ids[ids.indexOf("reserves-coverage") + 1], "legal-holders", c.name);
      assert.notEqual(r.checks.find((k) => k.id === "legal-holders").detail, "the attestation declares no legal entities");
      assert.ok(!ids.includes("legal-documents"), `${c.name}: a proof file carries no documents`);
    } else {
      assert.deepEqual({ id: r.failed.id, asset: r.failed.asset }, c.expect.failed, c.name);
      assert.equal(r.checks.at(-1), r.failed, `${c.name}: verification stops at the first failing check`);
    }
  }
});

test("legal: a proof file runs legal-holders right after reserves-coverage, and no legal-documents", async () => {
  const v = proofs.find((p) => p.expect.verified);
  const r = await verifyProof(v.proof, v.account_id, v.code, { expectKey: v.expect_key });
  assert.equal(r.verified, true);
  const ids = r.checks.map((c) => c.id);
  assert.deepEqual(ids.slice(ids.indexOf("reserves-coverage"), ids.indexOf("reserves-coverage") + 3), [
    "reserves-coverage",
    "legal-holders",
    "proof-found",
  ]);
  assert.equal(r.checks.find((c) => c.id === "legal-holders").detail, "the attestation declares no legal entities");
  assert.ok(!ids.includes("legal-documents"));
});

test("legal changes: a trustee change, a replaced document, an added or changed entity are warnings (Python's texts)", () => {
  const before = withLegal();
  assert.deepEqual(legalChanges(before, withLegal(), ["BTC", "ETH", "USDT"]), [], "nothing changed");
  assert.deepEqual(legalChanges(null, before, ["BTC"]), [], "no previous epoch: nothing to compare");

  // The client trust is replaced by another trustee, holding every client wallet.
  const newTrust = withLegal((l, doc) => {
    l.entities[1] = { ...l.entities[1], name: "Vector Trustees Ltd", lei: "HWUPKR0MPOU8FGXBT394" };
    l.entities.sort((a, b) => (a.name < b.name ? -1 : 1));
    l.documents[0].binds = ["Vector Custody Ltd (own funds)", "Vector Trustees Ltd"];
    l.documents[1].binds = ["Vector Bank plc", "Vector Trustees Ltd"];
    for (const w of doc.reserves.wallets) if (w.holder === "Vector Client Trust") w.holder = "Vector Trustees Ltd";
  });
  assert.deepEqual(legalChanges(before, newTrust, ["BTC", "ETH"]), [
    "entity removed since the previous epoch: Vector Client Trust (trustee)",
    "entity added since the previous epoch: Vector Trustees Ltd (trustee, GB)",
    "the trustee of your BTC changed since the previous epoch: Vector Client Trust (trustee) -> Vector Trustees Ltd (trustee)",
    "the trustee of your ETH changed since the previous epoch: Vector Client Trust (trustee) -> Vector Trustees Ltd (trustee)",
  ]);

  // The trust deed is replaced: same kind and title, other bytes.
  const C = "c".repeat(64);
  const newDeed = withLegal((l) => Object.assign(l.documents[0], { sha256: C, file: `documents/${C}.pdf`, date: "2026-01-20" }));
  assert.deepEqual(legalChanges(before, newDeed, ["BTC"]), [
    `document replaced since the previous epoch: Declaration of trust over client assets (trust deed): sha256 ${DEED_SHA} -> ${C}`,
  ]);
  // Another title is another document: one added, then one removed.
  const retitled = withLegal((l) => Object.assign(l.documents[0], { sha256: C, file: null, title: "Trust deed" }));
  assert.deepEqual(legalChanges(before, retitled, []), [
    `document added since the previous epoch: Trust deed (trust deed, 2026-01-15, sha256 ${C})`,
    "document removed since the previous epoch: Declaration of trust over client assets (trust deed, 2026-01-15)",
  ]);

  // An entity added, and one changed in role and LEI.
  const grown = withLegal((l) => {
    l.entities.push({ name: "Vector Nominees Ltd", role: "nominee", jurisdiction: "JE", lei: null, registration: "JE-1234" });
    Object.assign(l.entities[0], { role: "custodian", lei: "7LTWFZYICNSX8D621K86" });
  });
  assert.deepEqual(legalChanges(before, grown, ["BTC"]), [
    "entity Vector Bank plc changed since the previous epoch: role sub custodian -> custodian; LEI none -> 7LTWFZYICNSX8D621K86",
    "entity added since the previous epoch: Vector Nominees Ltd (nominee, JE)",
  ]);

  // A second holder of the client's ETH (its dedicated wallet): "holders", each with its role.
  const shared = withLegal((l, doc) => {
    doc.reserves.wallets.find((w) => w.category === "client_dedicated").holder = "Vector Bank plc";
  });
  assert.deepEqual(legalChanges(before, shared, ["BTC", "ETH"]), [
    "the holders of your ETH changed since the previous epoch: Vector Client Trust (trustee) -> " +
      "Vector Bank plc (sub custodian), Vector Client Trust (trustee)",
  ]);
  // A role changed under the same name: the new role names it.
  const bvr = withLegal((l) => (l.entities[1].role = "bankruptcy_remote_vehicle"));
  assert.deepEqual(legalChanges(before, bvr, ["USDT"]), [
    "entity Vector Client Trust changed since the previous epoch: role trustee -> bankruptcy remote vehicle",
    "the bankruptcy remote vehicle of your USDT changed since the previous epoch: Vector Client Trust (trustee) -> " +
      "Vector Client Trust (bankruptcy remote vehicle)",
  ]);

  // No legal member before: everything is declared for the first time.
  const none = parseAttestation(editedAttestation(() => {}));
  assert.deepEqual(legalChanges(none, before, ["BTC"]), [
    "entity added since the previous epoch: Vector Bank plc (sub custodian, GB)",
    "entity added since the previous epoch: Vector Client Trust (trustee, GB)",
    "entity added since the previous epoch: Vector Custody Ltd (own funds) (operating company, GB-ENG)",
    `document added since the previous epoch: Declaration of trust over client assets (trust deed, 2026-01-15, sha256 ${DEED_SHA})`,
    `document added since the previous epoch: Sub-custody agreement (sub custody agreement, 2026-02-01, sha256 ${SUB_SHA})`,
    "the trustee of your BTC changed since the previous epoch: Vector Client Trust -> Vector Client Trust (trustee)",
  ]);
  // Neither declares any: nothing is compared, not even the holders.
  const renamed = parseAttestation(editedAttestation((doc) => {
    for (const w of doc.reserves.wallets) if (w.holder === "Vector Client Trust") w.holder = "Vector Client Trust II";
  }));
  assert.deepEqual(legalChanges(none, renamed, ["BTC", "ETH", "USDT"]), []);
  // The legal member withdrawn: every entity and document removed, the holders without roles.
  assert.deepEqual(legalChanges(before, none, ["BTC"]).slice(-1), [
    "the holders of your BTC changed since the previous epoch: Vector Client Trust (trustee) -> Vector Client Trust",
  ]);
});

// ------------------------------------------------------------- a real site

const siteDir = process.env.PORSEGREGATE_TEST_SITE;
// [[account id, code], ...]: tests/test_js.py writes it from read_client_codes (the codes
// CSV escapes cells against spreadsheet formulas; only read_client_codes reads it).
const codesJson = process.env.PORSEGREGATE_TEST_CODES;

function siteFetch(root, tamper = {}, seen = []) {
  return async (url) => {
    const rel = new URL(url).pathname.replace(/^\/site\//, "");
    seen.push(rel);
    let data;
    try {
      data = readFileSync(join(root, rel));
    } catch {
      return new Response("not found", { status: 404 });
    }
    if (tamper[rel]) data = tamper[rel](Buffer.from(data));
    return new Response(data, { status: 200 });
  };
}

const BASE = "http://127.0.0.1/site/";

test("a published site verifies for its clients, fetching one shard", { skip: !siteDir }, async () => {
  const rows = JSON.parse(readFileSync(codesJson, "utf8"));
  assert.ok(rows.length >= 3);
  for (const [account, code] of rows.slice(0, 5)) {
    const seen = [];
    const r = await verifySite(BASE, account, code, { fetch: siteFetch(siteDir, {}, seen) });
    assert.equal(r.verified, true, JSON.stringify(r.failed));
    assert.ok(r.balances.length >= 1);
    assert.equal(seen.filter((s) => s.startsWith("proofs/")).length, 1);
    assert.ok(seen.every((s) => !s.includes("..")));
  }
});

test("a published site: wrong code, tampered shard, tampered manifest", { skip: !siteDir }, async () => {
  const rows = JSON.parse(readFileSync(codesJson, "utf8"));
  const [account, code] = rows[0];
  let r = await verifySite(BASE, account, rows[1][1], { fetch: siteFetch(siteDir) });
  assert.equal(r.failed.id, "bundle-account");
  // A valid code with another account id: a typing mistake, "check the account id" (section 9).
  assert.equal(typedWrong(r), "account id");
  // A typo in the code fails its checksum: "check the code".
  const digits = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const plain = code.replace(/-/g, "");
  const swap = (text, at, c) => text.slice(0, at) + c + text.slice(at + 1);
  const typo = swap(plain, 5, plain[5] === "7" ? "8" : "7");
  r = await verifySite(BASE, account, typo, { fetch: siteFetch(siteDir) });
  assert.deepEqual([r.failed.id, typedWrong(r), r.keyFingerprint], ["code", "code", null]);
  // A valid code mistyped into another (its checksum fixed): no proof under its lookup id.
  let other = null;
  for (const a of digits) {
    for (const b of digits) {
      const candidate = `${typo.slice(0, -2)}${a}${b}`;
      try {
        await parseCode(candidate);
        other = candidate;
      } catch (e) {
        if (!(e instanceof CodeError)) throw e;
      }
      if (other) break;
    }
    if (other) break;
  }
  assert.ok(other);
  r = await verifySite(BASE, account, other, { fetch: siteFetch(siteDir) });
  assert.deepEqual([r.failed.id, typedWrong(r)], ["proof-found", "code"]);
  assert.equal(typedWrong({ failed: null }), null);

  const flipLast = (b) => {
    b[b.length - 1] ^= 1;
    return b;
  };
  // porsegregate/2 lists no shard in the manifest: every shard file of the folder, altered.
  const shards = readdirSync(join(siteDir, "proofs")).map((f) => `proofs/${f}`);
  assert.ok(shards.length > 1);
  r = await verifySite(BASE, account, code, {
    fetch: siteFetch(siteDir, Object.fromEntries(shards.map((s) => [s, flipLast]))),
  });
  assert.equal(r.failed.id, "shard-hash");
  assert.match(r.failed.detail, /does not fold to the signed manifest's shards_root/);
  assert.equal(typedWrong(r), null);

  r = await verifySite(BASE, account, code, {
    fetch: siteFetch(siteDir, { "manifest.json": (b) => Buffer.from(b.toString().replace('"files":{', '"files":{"x":"' + "0".repeat(64) + '",')) }),
  });
  assert.equal(r.failed.id, "manifest-signature");

  r = await verifySite(BASE, account, code, { fetch: siteFetch(siteDir, { "attestation.json.sig": flipLast }) });
  assert.equal(r.failed.id, "attestation-signature");

  await assert.rejects(
    verifySite(BASE, account, code, { fetch: siteFetch(join(siteDir, "no-such-dir")) }),
    /attestation\.json is missing/,
  );
});

test("a published site: reserves checked, coverage shown, the dedicated client finds their wallet", { skip: !siteDir }, async () => {
  const rows = JSON.parse(readFileSync(codesJson, "utf8"));
  const signed = JSON.parse(readFileSync(join(siteDir, "attestation.json"), "utf8"));
  assert.ok(signed.reserves.wallets.length >= 1, "the published site declares reserves");
  const fetch = siteFetch(siteDir);
  for (const [account, code] of rows.slice(0, 3)) {
    const r = await verifySite(BASE, account, code, { fetch });
    assert.equal(r.verified, true, JSON.stringify(r.failed));
    const ids = r.checks.map((k) => k.id);
    const after = ids.indexOf("manifest-attestation");
    // The log checks (section 13) come first, then the reserves (no state: no log-consistency),
    // then the legal checks, before the client's shard is fetched.
    assert.deepEqual(ids.slice(after + 1, after + 11), [
      "log-checkpoint",
      "log-inclusion",
      "log-witnesses",
      "reserves-control",
      "reserves-distinct",
      "reserves-commingling",
      "reserves-coverage",
      "legal-holders",
      "legal-documents",
      "shard-hash",
    ]);
    if (signed.legal === undefined) {
      for (const id of ["legal-holders", "legal-documents"]) {
        assert.equal(r.checks.find((k) => k.id === id).detail, "the attestation declares no legal entities");
      }
    }
    assert.equal(r.shortfall, signed.reserves.shortfall);
    assert.deepEqual(r.coverage.map((c) => c.asset), r.balances.map((b) => b.asset));
    for (const c of r.coverage) {
      const row = signed.reserves.coverage.find((x) => x.asset === c.asset);
      assert.equal(c.segregatedPercent, row.segregated_percent);
      assert.equal(c.includingThirdPartyPercent, row.including_third_party_percent);
      assert.equal(c.covered, row.covered);
    }
  }
  // Whose is each client_dedicated wallet? Only the client's own code opens its tag.
  const dedicated = signed.reserves.wallets.filter((w) => w.category === "client_dedicated");
  let owners = 0;
  for (const [account, code] of rows) {
    const keys = await deriveEpochKeys(await parseCode(code), signed.epoch.id);
    const mine = [];
    for (const w of dedicated) {
      if (toHex(await dedicatedTag(signed.epoch.id, keys.nonce, account, w.chain, w.address)) === w.client_tag) mine.push(w);
    }
    if (!mine.length) continue;
    owners++;
    const r = await verifySite(BASE, account, code, { fetch });
    assert.equal(r.verified, true, JSON.stringify(r.failed));
    for (const w of mine) {
      for (const h of w.holdings) {
        const c = r.coverage.find((x) => x.asset === h.asset);
        assert.ok(c, `${account} holds ${h.asset} in a dedicated wallet`);
        const shown = c.dedicatedWallets.find((x) => x.address === w.address);
        assert.deepEqual([shown.chain, shown.amount], [w.chain, h.amount]);
        const balance = BigInt(r.balances.find((b) => b.asset === h.asset).amount);
        const held = c.dedicatedWallets.reduce((t, x) => t + BigInt(x.amount), 0n);
        assert.equal(c.dedicatedShortfall, (balance > held ? balance - held : 0n).toString());
      }
    }
    // Another client's verification does not show them this wallet.
    const other = rows.find(([a]) => a !== account);
    const o = await verifySite(BASE, other[0], other[1], { fetch });
    assert.ok(o.coverage.every((c) => c.dedicatedWallets.every((x) => !mine.some((w) => w.address === x.address))));
  }
  assert.equal(owners > 0, dedicated.length > 0, "every site with dedicated wallets has their owners among its clients");
});

test("the module has no imports and no network access other than the site", () => {
  const src = readFileSync(join(here, "..", "..", "site", "porverify.js"), "utf8");
  assert.doesNotMatch(src, /^\s*import\s/m);
  // No URL with a host (the https:// the explorer-template check compares with is not one).
  assert.doesNotMatch(src, /https?:\/\/[\w.-]/);
  assert.doesNotMatch(src, /innerHTML|eval\(|new Function/);
});

// ------------------------------------------------------------- the transparency log

const logVectors = vectors("log.json");

test("RFC 9162 inclusion proofs: every log vector, with Python's verdict", async () => {
  assert.ok(logVectors.inclusion.length >= 50);
  assert.ok(logVectors.inclusion.some((c) => c.valid) && logVectors.inclusion.some((c) => !c.valid));
  for (const c of logVectors.inclusion) {
    const got = await verifyInclusion(
      await logLeafHash(fromHex(c.entry)),
      c.index,
      c.size,
      c.path.map(fromHex),
      fromHex(c.root),
    );
    assert.equal(got, c.valid, `${c.index}/${c.size} ${c.why ?? "valid"}`);
  }
});

test("RFC 9162 consistency proofs: every log vector, with Python's verdict", async () => {
  assert.ok(logVectors.consistency.length >= 50);
  for (const c of logVectors.consistency) {
    const got = await verifyConsistency(
      c.first,
      c.second,
      fromHex(c.first_root),
      fromHex(c.second_root),
      c.path.map(fromHex),
    );
    assert.equal(got, c.valid, `${c.first}->${c.second} ${c.why ?? "valid"}`);
  }
});

test("log proofs: sizes past 2^31 and bad sizes are handled without 32-bit overflow", async () => {
  const leaf = await logLeafHash(fromHex(logVectors.entries[0]));
  // A one-leaf tree at index 2^32 of a tree of 2^32 + 1 leaves would need 33 path nodes.
  assert.equal(await verifyInclusion(leaf, 2 ** 32, 2 ** 32 + 1, [], leaf), false);
  assert.equal(await verifyInclusion(leaf, 0, 1, [], leaf), true);
  assert.equal(await verifyInclusion(leaf, 0.5, 1, [], leaf), false);
  assert.equal(await verifyInclusion(leaf, -1, 1, [], leaf), false);
  assert.equal(await verifyConsistency(0, 1, leaf, leaf, []), false);
  assert.equal(await verifyConsistency(2 ** 40, 2 ** 40, leaf, leaf, []), true);
  assert.equal(await verifyConsistency(2 ** 40, 2 ** 40 + 1, leaf, leaf, []), false);
});

/** A valid attestation of the vectors, edited and re-serialised canonically. */
function editedAttestation(edit) {
  const v = proofs.find((p) => p.expect.verified);
  const doc = JSON.parse(Buffer.from(v.proof.attestation, "base64").toString("utf8"));
  edit(doc);
  return Buffer.from(canonicalJson(doc));
}

test("attestation epoch.next_due is required, a time, and after snapshot_time (as Python)", () => {
  assert.equal(parseAttestation(editedAttestation(() => {})).nextDue, "2026-12-31T23:59:59Z");
  for (const [name, edit, message] of [
    ["missing", (d) => delete d.epoch.next_due, /^epoch\.next_due is missing$/],
    ["null", (d) => (d.epoch.next_due = null), /^epoch\.next_due must be a string$/],
    ["a date only", (d) => (d.epoch.next_due = "2026-12-31"), /^epoch\.next_due must be YYYY-MM-DDTHH:MM:SSZ, after snapshot_time$/],
    ["with fractions", (d) => (d.epoch.next_due = "2026-12-31T23:59:59.5Z"), /after snapshot_time/],
    ["equal to the snapshot", (d) => (d.epoch.next_due = d.epoch.snapshot_time), /after snapshot_time/],
    ["before the snapshot", (d) => (d.epoch.next_due = "2026-11-30T23:59:58Z"), /after snapshot_time/],
  ]) {
    assert.throws(() => parseAttestation(editedAttestation(edit)), (e) => e instanceof FormatError && message.test(e.message), name);
  }
  assert.equal(parseAttestation(editedAttestation((d) => (d.epoch.next_due = "2026-11-30T23:59:60Z"))).nextDue, "2026-11-30T23:59:60Z");
});

test("log documents are parsed as strictly as Python's (canonical, typed, in range)", () => {
  const hex = "ab".repeat(32);
  const doc = (o) => Buffer.from(canonicalJson(o));
  const cp = { format: "porsegregate-checkpoint/1", log: hex, size: 3, root: hex, time: "2026-11-30T23:59:59Z", epoch: "2026-11" };
  assert.deepEqual(parseCheckpoint(doc(cp)), { log: hex, size: 3, root: hex, time: "2026-11-30T23:59:59Z", epoch: "2026-11" });
  for (const bad of [{ size: 0 }, { size: 2 ** 53 }, { size: 1.5 }, { size: "3" }, { root: hex.toUpperCase() }, { time: "2026-11-30" }, { epoch: "-x" }, { format: "x" }]) {
    assert.throws(() => parseCheckpoint(doc({ ...cp, ...bad })), FormatError, JSON.stringify(bad));
  }
  assert.throws(() => parseCheckpoint(Buffer.from(JSON.stringify(cp, null, 1))), /RFC 8785/);
  const entries = { format: "porsegregate-log-entries/1", entries: [{ index: 0, epoch: "a", attestation_sha256: hex }] };
  assert.deepEqual(parseEntries(doc(entries)), [{ index: 0, epoch: "a", attestationSha256: hex }]);
  assert.throws(() => parseEntries(doc({ ...entries, entries: [{ index: 1, epoch: "a", attestation_sha256: hex }] })), /index must be 0/);
  const inc = { format: "porsegregate-inclusion/1", index: 2, tree_size: 3, attestation_sha256: hex, path: [hex] };
  assert.equal(parseInclusion(doc(inc)).path.length, 1);
  assert.throws(() => parseInclusion(doc({ ...inc, index: 3 })), /out of range/);
  assert.throws(() => parseInclusion(doc({ ...inc, path: Array(65).fill(hex) })), /at most 64/);
  const con = { format: "porsegregate-consistency/1", first: 1, second: 3, path: [] };
  assert.deepEqual(parseConsistency(doc(con)), { first: 1, second: 3, path: [] });
  assert.throws(() => parseConsistency(doc({ ...con, first: 4 })), /0 < first <= second/);
  assert.throws(() => parseConsistency(doc({ ...con, first: 0 })), /0 < first <= second/);
});

test("storageState keeps one checkpoint per log, and never throws", () => {
  const map = new Map();
  const storage = { getItem: (k) => (map.has(k) ? map.get(k) : null), setItem: (k, v) => map.set(k, String(v)) };
  const state = storageState(storage);
  const log = "cd".repeat(32);
  assert.equal(state.seen(log), null);
  state.remember({ log, size: 3, root: "ef".repeat(32), time: "2026-11-30T23:59:59Z", epoch: "2026-11" });
  assert.deepEqual(JSON.parse(map.get(STORAGE_PREFIX + log)), { size: 3, root: "ef".repeat(32), time: "2026-11-30T23:59:59Z", epoch: "2026-11" });
  assert.deepEqual(state.seen(log), { size: 3, root: "ef".repeat(32), time: "2026-11-30T23:59:59Z", epoch: "2026-11" });
  assert.equal(state.problem, null);
  map.set(STORAGE_PREFIX + log, "{not json");
  assert.equal(state.seen(log), null);
  assert.match(state.problem, /could not be read/);
  const refusing = storageState({
    getItem: () => {
      throw new Error("SecurityError");
    },
    setItem: () => {
      throw new Error("QuotaExceededError");
    },
  });
  assert.equal(refusing.seen(log), null);
  refusing.remember({ log, size: 1, root: "ef".repeat(32), time: "", epoch: "" });
  assert.match(refusing.problem, /QuotaExceededError/);
});

// ------------------------------------------------------------- witnesses: a deployed witness's cosignature

// A checkpoint of the staging CT log arche2025h1.staging.ct.transparency.dev cosigned by public
// witnesses, and the cosignature/v1 key of remora.n621.de (tests/test_witness.py has the same).
const REAL_CHECKPOINT =
  "arche2025h1.staging.ct.transparency.dev\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n\n" +
  "\u2014 arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=\n" +
  "\u2014 arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=\n" +
  "\u2014 transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==\n" +
  "\u2014 witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==\n" +
  "\u2014 remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==\n" +
  "\u2014 witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==\n";

test("witnesses: a deployed witness's cosignature/v1 counts, as in Python; another checkpoint's does not", async () => {
  const witnesses = parseWitnesses({ threshold: 1, keys: ["remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"] });
  await checkWitnessKeys(witnesses);
  const [remora] = witnesses.keys;
  const data = new TextEncoder().encode(REAL_CHECKPOINT);
  const r = await witnessCosignature(remora, parseNote(data).body, data);
  assert.equal(r.ok, true, r.detail);
  assert.ok(r.timestamp > 1_700_000_000);
  const other = new TextEncoder().encode(REAL_CHECKPOINT.replace("\n1432088532\n", "\n42\n"));
  assert.equal((await witnessCosignature(remora, parseNote(other).body, other)).ok, false);
  const wrong = parseWitnesses({ threshold: 1, keys: ["remora.n621.de+da77ade8+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"] });
  await assert.rejects(checkWitnessKeys(wrong), /is not the key's/);
});

// ------------------------------------------------------------- a real history (tests/support/history.py)

const historyExpect = process.env.PORSEGREGATE_HISTORY_EXPECT
  ? JSON.parse(readFileSync(process.env.PORSEGREGATE_HISTORY_EXPECT, "utf8"))
  : null;
const noHistory = { skip: historyExpect === null };
const historySite = (name) => process.env[`PORSEGREGATE_HISTORY_${name.toUpperCase()}`];

/**
 * The JS report reaches Python's Report.to_json verdict, as the two verifiers' contract says:
 * the same checks (id, verdict, asset) in the same order, the same failed check (id, asset),
 * balances, log checkpoint, freshness (next_due, overdue) and auditors (fingerprint, name,
 * verdict, time). The details (and warning texts) are each verifier's own words.
 */
function assertSameAsPython(r, py, what) {
  const brief = (checks) => checks.map((c) => `${c.ok ? "ok" : "FAIL"} ${c.id}${c.asset ? ` [${c.asset}]` : ""}`);
  assert.deepEqual(brief(r.checks), brief(py.checks), `${what}: the same checks`);
  assert.equal(r.verified, py.verified, what);
  const failed = (f) => f && { id: f.id, asset: f.asset ?? null };
  assert.deepEqual(failed(r.failed), failed(py.failed), what);
  const auditors = (list) => list.map((a) => ({ fingerprint: a.fingerprint, name: a.name, ok: a.ok, time: a.time }));
  assert.deepEqual(auditors(r.auditors), auditors(py.auditors), `${what}: the auditors`);
  const witnesses = (list) => list.map((w) => ({ name: w.name, fingerprint: w.fingerprint, ok: w.ok, timestamp: w.timestamp }));
  assert.deepEqual(witnesses(r.witnesses), witnesses(py.witnesses), `${what}: the witnesses`);
  assert.deepEqual(Object.fromEntries(r.balances.map((b) => [b.asset, b.amount])), Object.fromEntries(py.balances.map((b) => [b.asset, b.amount])), what);
  assert.deepEqual(r.checkpoint && { size: r.checkpoint.size, root: r.checkpoint.root, time: r.checkpoint.time, epoch: r.checkpoint.epoch }, py.log, what);
  assert.equal(r.nextDue, py.next_due, what);
  assert.equal(r.overdue, py.overdue, what);
  assert.equal(r.warnings.length, py.warnings.length, `${what}: as many warnings`);
  assert.equal(r.epoch, py.epoch, what);
}

function assertHistoryAsPython(r, py, what) {
  assertSameAsPython(r.latest, py.latest, `${what} (newest epoch)`);
  assert.deepEqual(
    r.checks.map((c) => [c.id, c.ok]),
    py.history.checks.map((c) => [c.id, c.ok]),
    `${what}: the history checks`,
  );
  const failed = (f) => f && { id: f.id, asset: f.asset ?? null };
  assert.deepEqual(failed(r.failed), failed(py.history.failed), `${what}: the failed history check`);
  assert.deepEqual(
    r.epochs.map((e) => ({ epoch: e.epoch, included: e.included, failed: e.report.failed ? e.report.failed.id : null })),
    py.epochs,
    `${what}: the epochs`,
  );
  assert.equal(r.verified, py.verified, what);
}

async function siteAsPython(name, state, options = {}) {
  const { account, code } = historyExpect;
  return verifySite(BASE, account, code, { fetch: siteFetch(historySite(name)), state, ...options });
}

test("history: a clean history verifies in every epoch, as in Python", noHistory, async () => {
  const { account, code, epochs, python } = historyExpect;
  const seen = [];
  const state = new MemoryState();
  const r = await verifyHistory(BASE, account, code, { fetch: siteFetch(historySite("clean"), {}, seen), state });
  assertHistoryAsPython(r, python.clean_history, "clean");
  assert.equal(r.verified, true);
  assert.deepEqual(r.epochs.map((e) => e.epoch), epochs);
  assert.ok(r.epochs.every((e) => e.included && !e.noProof));
  assert.deepEqual(r.checks.map((c) => c.id), ["history-log", "history-inclusion", "history-epoch", "history-chain"]);
  assert.deepEqual(
    r.epochs.map((e) => e.page),
    [...epochs.slice(0, -1).map((e) => `${BASE}epochs/${e}/index.html`), `${BASE}index.html`],
  );
  assert.deepEqual(r.epochs.map((e) => e.location), [...epochs.slice(0, -1).map((e) => `${BASE}epochs/${e}/`), BASE]);
  const ids = r.latest.checks.map((c) => c.id);
  assert.deepEqual(ids.slice(ids.indexOf("manifest-attestation") + 1, ids.indexOf("manifest-attestation") + 8), [
    "log-checkpoint",
    "log-inclusion",
    "log-consistency",
    "log-witnesses",
    "reserves-control",
    "reserves-distinct",
    "reserves-commingling",
  ]);
  // Remembered after the fully verified check; the manifest was fetched once per epoch.
  assert.equal(state.seen(r.latest.checkpoint.log).size, epochs.length);
  assert.equal(seen.filter((s) => s === "manifest.json").length, 1);
  assert.ok(seen.every((s) => !s.includes("..")));
});

test("history: a rewritten past attestation and a removed epoch fail history-epoch, as in Python", noHistory, async () => {
  const { account, code, python } = historyExpect;
  for (const [name, expect] of [
    ["rewritten", python.rewritten_history],
    ["removed", python.removed_history],
  ]) {
    const r = await verifyHistory(BASE, account, code, { fetch: siteFetch(historySite(name)) });
    assertHistoryAsPython(r, expect, name);
    assert.equal(r.verified, false, name);
    assert.equal(r.failed.id, "history-epoch", name);
    assert.equal(r.latest.verified, true, `${name}: the newest epoch itself still verifies`);
  }
});

test("history: a client of the newest epoch only has no proof in the older ones (not a failure)", noHistory, async () => {
  const { newcomer, python } = historyExpect;
  const r = await verifyHistory(BASE, newcomer.account, newcomer.code, { fetch: siteFetch(historySite("newcomer")), state: new MemoryState() });
  assertHistoryAsPython(r, python.newcomer_history, "newcomer");
  assert.equal(r.verified, true);
  assert.deepEqual(r.epochs.map((e) => [e.included, e.noProof]), [
    [false, true],
    [false, true],
    [false, true],
    [true, false],
  ]);
});

test("history: a fork is caught by a client who saw the other branch, as in Python", noHistory, async () => {
  const state = new MemoryState();
  const runs = [];
  for (const name of ["fork_a", "fork_b", "fork_a"]) runs.push(await siteAsPython(name, state));
  runs.forEach((r, i) => assertSameAsPython(r, historyExpect.python.fork[i], `fork step ${i}`));
  assert.deepEqual(runs.map((r) => r.verified), [true, false, true]);
  assert.equal(runs[1].failed.id, "log-consistency");
  assert.match(runs[1].failed.detail, /a fork/);
  assert.equal(runs[1].seenCheckpoint.size, runs[0].checkpoint.size);
  // The forked branch was not remembered: the honest one still is.
  assert.equal(state.seen(runs[0].checkpoint.log).root, runs[0].checkpoint.root);
});

test("proof files: saved from the history and attacked, verified offline with Python's verdicts", noHistory, async () => {
  const cases = historyExpect.proof_files;
  const results = {};
  for (const [name, c] of Object.entries(cases)) {
    let state = null;
    if (c.state !== null) {
      state = new MemoryState();
      state.remember(c.state);
    }
    const before = state === null ? null : JSON.stringify([...state.logs]);
    const r = await verifyProof(c.proof, c.account, c.code, { state, now: Date.parse(c.now) });
    assertSameAsPython(r, c.python, `proof file ${name}`);
    if (state !== null) assert.equal(JSON.stringify([...state.logs]), before, `${name}: a proof file is not remembered`);
    results[name] = r;
  }
  const ids = results.saved.checks.map((k) => k.id);
  assert.deepEqual(ids.slice(ids.indexOf("format") + 1, ids.indexOf("format") + 3), ["log-checkpoint", "log-inclusion"]);
  assert.equal(results.saved.verified, true);
  assert.deepEqual([results.stale.verified, results.stale.overdue], [true, true]);
  assert.match(results.stale.warnings[0], /so this saved proof is stale/);
  assert.equal(results.version_1.checkpoint, null);
  assert.match(results.version_1.warnings[0], /^log not checked: this is a porsegregate-proof\/1 file/);
  assert.equal(results.checkpoint_other_bytes.failed.id, "log-checkpoint");
  assert.equal(results.inclusion_other.failed.id, "log-inclusion");
  assert.equal(results.fork.failed.id, "log-consistency");
  assert.match(results.fork.failed.detail, /a fork/);
  assert.equal(results.same_log.checks.find((k) => k.id === "log-consistency").ok, true);
  assert.match(results.older_than_remembered.warnings[0], /^log not compared: you remember this log at size 4/);
  // What the site's verifier offers to download is a /2 file carrying the log files it checked.
  const site = await siteAsPython("clean", null);
  assert.equal(site.proof.format, "porsegregate-proof/2");
  assert.deepEqual(site.proof, cases.saved.proof);
});

test("history: a rolled-back site is caught; a grown log is proved consistent, as in Python", noHistory, async () => {
  let state = new MemoryState();
  const rollback = [await siteAsPython("newer", state), await siteAsPython("clean", state)];
  rollback.forEach((r, i) => assertSameAsPython(r, historyExpect.python.rollback[i], `rollback step ${i}`));
  assert.equal(rollback[1].failed.id, "log-consistency");
  assert.match(rollback[1].failed.detail, /you saw this log at size 4 before/);
  state = new MemoryState();
  const growth = [await siteAsPython("clean", state), await siteAsPython("newer", state)];
  growth.forEach((r, i) => assertSameAsPython(r, historyExpect.python.growth[i], `growth step ${i}`));
  assert.equal(growth[1].checks.find((c) => c.id === "log-consistency").detail, "the log only grew since your last check (size 3 to 4)");
  assert.equal(state.seen(growth[1].checkpoint.log).size, 4);
});

test("history: a re-signed newest attestation is not in the log (log-inclusion), as in Python", noHistory, async () => {
  const r = await siteAsPython("newest_rewritten", null);
  assertSameAsPython(r, historyExpect.python.newest_rewritten[0], "newest rewritten");
  assert.equal(r.failed.id, "log-inclusion");
});

test("history: a manifest re-signed for another epoch is not this attestation's (manifest-attestation), as in Python", noHistory, async () => {
  const r = await siteAsPython("manifest_epoch", null);
  assertSameAsPython(r, historyExpect.python.manifest_epoch[0], "manifest of another epoch");
  assert.equal(r.failed.id, "manifest-attestation");
});

test("history: one wallet counted twice under two entries of its network (reserves-distinct, T14), as in Python", noHistory, async () => {
  const r = await siteAsPython("counted_twice", null);
  assertSameAsPython(r, historyExpect.python.counted_twice[0], "wallets counted twice");
  assert.equal(r.failed.id, "reserves-distinct");
  assert.match(r.failed.detail, /^chains bitcoin and bitcoin-b are the same bitcoin network \(mainnet\)/);
  assert.match(r.failed.detail, /bitcoin-b bc1q[0-9a-z]+ \(client_segregated\) is the same wallet as bitcoin bc1q/);
});

test("history: a shard the signed shards root does not cover fails shard-hash, as in Python", noHistory, async () => {
  const details = {
    shard_path_altered: /with its path does not fold to the signed manifest's shards_root/,
    shard_of_another_index: /it is served under another shard's name/,
    shard_missing: /is missing: every one of the 2\^b shards is published/,
  };
  assert.deepEqual(Object.keys(historyExpect.python.shards).sort(), Object.keys(details).sort());
  for (const [name, py] of Object.entries(historyExpect.python.shards)) {
    const r = await siteAsPython(name, null);
    assertSameAsPython(r, py, name);
    assert.equal(r.failed.id, "shard-hash", name);
    assert.match(r.failed.detail, details[name], name);
  }
});

test("history: a checkpoint below the witnesses' threshold is rejected (log-witnesses), as in Python", noHistory, async () => {
  const clean = await siteAsPython("clean", null);
  assert.equal(clean.verified, true);
  assert.match(clean.checks.find((c) => c.id === "log-witnesses").detail, /^co-signed by 2 of 2 witnesses \(at least 2 required\): witness-1\.demo\.example/);
  assert.deepEqual(clean.witnesses.map((w) => [w.name, w.ok]), [["witness-1.demo.example", true], ["witness-2.demo.example", true]]);
  for (const [name, py] of Object.entries(historyExpect.python.witnesses)) {
    const r = await siteAsPython(name, null);
    assertSameAsPython(r, py, name);
    assert.equal(r.failed.id, "log-witnesses", name);
    assert.match(r.failed.detail, name === "fork_b" ? /co-signed by 0 of the 2/ : /co-signed by 1 of the 2/, name);
  }
  const detail = async (name) => (await siteAsPython(name, null)).failed.detail;
  assert.match(await detail("witness_stripped"), /no co-signature published/);
  assert.match(await detail("witness_unnamed"), /no signature line by this witness's key/);
  assert.match(await detail("witness_other_checkpoint"), /of another checkpoint/);
});

test("history: an overdue attestation is a warning, not a failure, as in Python", noHistory, async () => {
  const { before, after, reports } = historyExpect.python.overdue;
  const fresh = await siteAsPython("clean", null, { now: new Date(before) });
  const late = await siteAsPython("clean", null, { now: Date.parse(after) });
  assertSameAsPython(fresh, reports[0], "before next_due");
  assertSameAsPython(late, reports[1], "after next_due");
  assert.equal(fresh.overdue, false);
  assert.deepEqual([late.verified, late.overdue], [true, true]);
  assert.match(late.warnings[0], /^overdue: the custodian said the next attestation would be published by /);
  // Exactly at next_due is not yet overdue; a millisecond later is (Python compares datetimes).
  const due = fresh.nextDue;
  assert.equal((await siteAsPython("clean", null, { now: new Date(due) })).overdue, false);
  assert.equal((await siteAsPython("clean", null, { now: Date.parse(due) + 1 })).overdue, true);
});

test("history: an earlier epoch's page judges freshness by the newest signed attestation", noHistory, async () => {
  const { account, code, epochs } = historyExpect;
  const dir = historySite("clean");
  const oldest = JSON.parse(readFileSync(join(dir, "epochs", epochs[0], "attestation.json"), "utf8"));
  const newest = JSON.parse(readFileSync(join(dir, "attestation.json"), "utf8"));
  const [oldDue, newDue] = [oldest.epoch.next_due, newest.epoch.next_due];
  assert.ok(oldDue < newDue, `${oldDue} < ${newDue}`);
  const home = `${BASE}epochs/${epochs[0]}/`;
  assert.equal(isEpochHome(home), true);
  assert.equal(isEpochHome(BASE), false);
  // After the earlier epoch's own next_due, before the newest's: not overdue.
  const between = Date.parse(newDue) - 86_400_000;
  assert.ok(between > Date.parse(oldDue));
  const r = await verifySite(home, account, code, { fetch: siteFetch(dir), now: between });
  assert.equal(r.verified, true, JSON.stringify(r.failed));
  assert.equal(r.epoch, epochs[0]);
  assert.deepEqual([r.overdue, r.nextDue, r.warnings], [false, newDue, []]);
  // Once the newest is overdue too, the earlier page says so.
  const late = await verifySite(home, account, code, { fetch: siteFetch(dir), now: Date.parse(newDue) + 1000 });
  assert.deepEqual([late.verified, late.overdue], [true, true]);
  // A root whose signature does not verify is not trusted: the epoch's own next_due counts.
  const flip = (b) => {
    b[b.length - 1] ^= 1;
    return b;
  };
  const forged = await verifySite(home, account, code, {
    fetch: siteFetch(dir, { "attestation.json.sig": flip }),
    now: between,
  });
  assert.deepEqual([forged.verified, forged.overdue, forged.nextDue], [true, true, oldDue]);
});

test("history: the previous epoch's logged attestation is read for legal changes; unreadable, a warning", noHistory, async () => {
  const { account, code } = historyExpect;
  const seen = [];
  const r = await verifySite(BASE, account, code, { fetch: siteFetch(historySite("clean"), {}, seen) });
  assert.equal(r.verified, true, JSON.stringify(r.failed));
  const previous = `log/attestations/${r.checkpoint.size - 2}.json`;
  assert.ok(r.checkpoint.size >= 2);
  assert.ok(seen.includes(previous), "the previous logged attestation is fetched");
  assert.ok(!seen.some((s) => s.startsWith("log/attestations/") && s !== previous), "and no other");
  // What changed comes from a pure function of the two attestations (tested above); here the
  // legal checks pass and nothing fails when the previous attestation cannot be read.
  assert.ok(r.warnings.every((w) => !w.startsWith("legal changes not compared")));
  const notCompared = "legal changes not compared with the previous epoch: ";
  for (const [name, tamper, why] of [
    ["altered", (b) => Buffer.concat([b, Buffer.from(" ")]), `${previous} does not match the signed manifest`],
    ["removed", null, `${previous}, the attestation this one chains to, is missing from the site or from its signed manifest`],
  ]) {
    const fetch = siteFetch(historySite("clean"));
    const edited = tamper
      ? siteFetch(historySite("clean"), { [previous]: tamper })
      : async (url, init) => (url.endsWith(previous) ? new Response("gone", { status: 404 }) : fetch(url, init));
    const t = await verifySite(BASE, account, code, { fetch: edited });
    assert.equal(t.verified, true, `${name}: ${JSON.stringify(t.failed)}`);
    assert.deepEqual(t.checks.map((c) => [c.id, c.ok]), r.checks.map((c) => [c.id, c.ok]), name);
    // The warnings before it (freshness) are the same; no change is listed without the previous epoch.
    assert.equal(t.warnings.at(-1), `${notCompared}${why}`, name);
    assert.deepEqual(t.warnings.slice(0, -1), r.warnings.slice(0, t.warnings.length - 1), name);
  }
});

test("legal: an operating company holding client assets fails legal-holders, as in Python", noHistory, async () => {
  const py = historyExpect.python.legal.opco;
  const r = await siteAsPython("legal_opco", null);
  assertSameAsPython(r, py, "operating company holds a client wallet");
  assert.equal(r.failed.id, "legal-holders");
  assert.match(r.failed.detail, /^bitcoin \S+ \(client_segregated\): its holder "[^"]+" is the custodian's operating company, which cannot be the protective holder of client assets \(client_segregated\)$/);
  const ids = r.checks.map((c) => c.id);
  assert.deepEqual(ids.slice(-2), ["reserves-coverage", "legal-holders"]);
});

test("legal: a published document whose bytes differ from its hash fails legal-documents, as in Python", noHistory, async () => {
  const py = historyExpect.python.legal.swapped;
  const seen = [];
  const r = await verifySite(BASE, historyExpect.account, historyExpect.code, { fetch: siteFetch(historySite("legal_swapped"), {}, seen) });
  assertSameAsPython(r, py, "a swapped document");
  assert.equal(r.failed.id, "legal-documents");
  assert.equal(r.failed.detail, py.failed.detail, "the same words as Python's");
  assert.match(r.failed.detail, /^documents\/[0-9a-f]{64}\.\w+ \(Declaration of trust over client assets\): its bytes do not match the sha256 the attestation signs$/);
  assert.ok(!seen.some((s) => s.startsWith("proofs/")), "the shard is not fetched after a failed legal check");
});

test("legal: a trustee change is a warning with Python's exact words, in the newest epoch only", noHistory, async () => {
  const { trustee, trustee_history: history } = historyExpect.python.legal;
  const r = await siteAsPython("legal_trustee", null);
  assertSameAsPython(r, trustee, "a new trustee");
  assert.equal(r.verified, true, JSON.stringify(r.failed));
  assert.deepEqual(r.warnings, trustee.warnings);
  assert.ok(r.warnings.some((w) => /^the (trustee|holders) of your \S+ changed since the previous epoch: /.test(w)), r.warnings.join("\n"));
  assert.ok(r.warnings.some((w) => w.startsWith("entity added since the previous epoch: ")));
  const { account, code } = historyExpect;
  const all = await verifyHistory(BASE, account, code, { fetch: siteFetch(historySite("legal_trustee")) });
  assertHistoryAsPython(all, history, "a new trustee, every epoch");
  assert.deepEqual(all.latest.warnings, history.latest.warnings);
  for (const e of all.epochs.slice(0, -1)) {
    assert.deepEqual(e.report.warnings.filter((w) => !w.startsWith("overdue: ")), [], `epoch ${e.epoch} changed nothing`);
  }
});

test("history: log files are checked against the signed manifest; nothing is remembered on a failure", noHistory, async () => {
  const { account, code } = historyExpect;
  const root = historySite("newer");
  const flipLast = (b) => {
    b[b.length - 1] ^= 1;
    return b;
  };
  for (const [file, check] of [
    ["log/checkpoint.json", "log-checkpoint"],
    ["log/checkpoint.json.sig", "log-checkpoint"],
    ["log/inclusion/3.json", "log-inclusion"],
  ]) {
    const state = new MemoryState();
    const r = await verifySite(BASE, account, code, { fetch: siteFetch(root, { [file]: flipLast }), state });
    assert.equal(r.failed.id, check, file);
    assert.equal(r.failed.detail, `${file} does not match the signed manifest: it was altered`);
    assert.equal(state.logs.size, 0, `${file}: nothing remembered`);
  }
  // A consistency proof altered on its way (the client saw size 3 before).
  const seenClean = new MemoryState();
  await siteAsPython("clean", seenClean);
  let r = await verifySite(BASE, account, code, { fetch: siteFetch(root, { "log/consistency/3.json": flipLast }), state: seenClean });
  assert.equal(r.failed.id, "log-consistency");
  assert.equal(seenClean.seen(r.checkpoint.log).size, 3, "the older checkpoint is kept");
  // A remembered checkpoint of size 3 whose root is another: the proof does not connect them.
  const forged = new MemoryState();
  forged.remember({ ...r.checkpoint, size: 3, root: "00".repeat(32) });
  r = await verifySite(BASE, account, code, { fetch: siteFetch(root), state: forged });
  assert.equal(r.failed.id, "log-consistency");
  assert.match(r.failed.detail, /^the log is not an extension of the one you saw before \(size 3\)/);
  // Verification that fails later (another client's code) does not remember the checkpoint.
  const other = new MemoryState();
  r = await verifySite(BASE, account, historyExpect.newcomer.code, { fetch: siteFetch(root), state: other });
  assert.equal(r.verified, false);
  assert.equal(other.logs.size, 0);
});

// ------------------------------------------------------------- auditors' co-signatures (section 14)

const auditorExpect = historyExpect ? historyExpect.auditors : null;
const noAuditors = { skip: auditorExpect === null };
const auditorSite = (name) => auditorExpect.sites[name];

async function auditorSiteAsPython(name, seen = []) {
  const { account, code } = historyExpect;
  return verifySite(BASE, account, code, { fetch: siteFetch(auditorSite(name), {}, seen) });
}

test("co-signatures: every co-signed, forged and malformed site reaches Python's verdict, check by check", noAuditors, async () => {
  const names = Object.keys(auditorExpect.python);
  assert.ok(names.length >= 30, names.join(", "));
  for (const name of names) {
    const r = await auditorSiteAsPython(name);
    assertSameAsPython(r, auditorExpect.python[name], `auditors: ${name}`);
  }
});

test("co-signatures: one auditor (porsegregate cosign) is listed, right after format, as in Python", noAuditors, async () => {
  const seen = [];
  const r = await auditorSiteAsPython("cosigned", seen);
  assert.equal(r.verified, true, JSON.stringify(r.failed));
  const ids = r.checks.map((c) => c.id);
  assert.deepEqual(ids.slice(0, 5), ["code", "attestation-signature", "format", "auditor-signature", "manifest-signature"]);
  const [auditor] = r.auditors;
  assert.equal(r.auditors.length, 1);
  assert.deepEqual([auditor.name, auditor.ok], ["Example Audit LLP", true]);
  assert.match(auditor.fingerprint, /^[0-9a-f]{64}$/);
  assert.match(auditor.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(
    r.checks[3].detail,
    `co-signed by 1 auditor key(s): "Example Audit LLP" ${auditor.fingerprint} ` +
      "(names are the auditors' own claims: compare the fingerprints with theirs)",
  );
  const files = ["auditor.pub.pem", "attestation.json.sig", "statement.txt", "auditor.json", "auditor.json.sig"];
  assert.deepEqual(
    seen.filter((s) => s.startsWith("auditors/")).sort(),
    [AUDITORS_INDEX, ...files.map((f) => `auditors/${auditor.fingerprint}/${f}`)].sort(),
  );
  // verifyCosignatures alone, as Python's verify_cosignatures.
  const attestation = readFileSync(join(auditorSite("cosigned"), "attestation.json"));
  assert.deepEqual(await verifyCosignatures(BASE, attestation, { fetch: siteFetch(auditorSite("cosigned")) }), r.auditors);
  // The same co-signature in the epoch's home, checked by verifyHistory in every epoch.
  const history = await verifyHistory(BASE, historyExpect.account, historyExpect.code, { fetch: siteFetch(auditorSite("cosigned")) });
  assertHistoryAsPython(history, auditorExpect.histories.cosigned, "auditors: cosigned history");
  assert.equal(history.verified, true);
});

test("co-signatures: no auditors/index.json, no check and no auditors; only the index is asked for", noAuditors, async () => {
  const seen = [];
  const { account, code } = historyExpect;
  const r = await verifySite(BASE, account, code, { fetch: siteFetch(historySite("clean"), {}, seen) });
  assert.equal(r.verified, true);
  assert.deepEqual(r.auditors, []);
  assert.ok(!r.checks.some((c) => c.id === "auditor-signature"));
  assert.deepEqual(seen.filter((s) => s.startsWith("auditors/")), [AUDITORS_INDEX]);
  // A host error (not a 404) is the site's failure, not a verdict, as Python's InputError.
  const failing = async (url) =>
    new URL(url).pathname.endsWith(AUDITORS_INDEX) ? new Response("", { status: 500 }) : siteFetch(historySite("clean"))(url);
  await assert.rejects(verifySite(BASE, account, code, { fetch: failing }), /auditors\/index\.json: HTTP 500/);
});

test("co-signatures: a forged signature and a name changed after signing fail auditor-signature", noAuditors, async () => {
  const forged = await auditorSiteAsPython("forged");
  assert.equal(forged.failed.id, "auditor-signature");
  assert.match(forged.failed.detail, /attestation\.json\.sig does not verify over this attestation\.json .* signs other bytes/);
  assert.deepEqual([forged.auditors[0].name, forged.auditors[0].ok], ["Forged Auditor LLP", false]);
  // Stopped there: nothing after it is checked, as in Python.
  assert.equal(forged.checks.at(-1).id, "auditor-signature");
  const renamed = await auditorSiteAsPython("renamed");
  assert.equal(renamed.failed.id, "auditor-signature");
  assert.match(renamed.failed.detail, /auditor\.json is not signed by the auditor's key: its name, statement or time was changed after signing$/);
  assert.equal(renamed.auditors[0].name, null, "an unverified name is never reported");
  // In an earlier epoch: its own check fails, so the history shows that epoch as not verified.
  const { account, code } = historyExpect;
  const history = await verifyHistory(BASE, account, code, { fetch: siteFetch(auditorSite("forged_older")) });
  assertHistoryAsPython(history, auditorExpect.histories.forged_older, "auditors: forged in an older epoch");
  assert.equal(history.verified, false);
  assert.equal(history.epochs[0].report.failed.id, "auditor-signature");
});

test("co-signatures: names with quotes and invisible characters are reported exactly, and quoted", noAuditors, async () => {
  const r = await auditorSiteAsPython("two");
  assert.equal(r.verified, true);
  const names = ['O\'Brien "Q" Audit\u00a0LLP', "Zoë's Audit\u200d 🙂 \u{e0001}Co"];
  assert.deepEqual(r.auditors.map((a) => a.name).sort(), [...names].sort());
  assert.match(r.checks[3].detail, /^co-signed by 2 auditor key\(s\): /);
  assert.ok(r.checks[3].detail.includes(`"O'Brien \\"Q\\" Audit\u00a0LLP"`), r.checks[3].detail);
  assert.ok(r.checks[3].detail.includes(`"Zoë's Audit\u200d 🙂 \u{e0001}Co"`), r.checks[3].detail);
});

test("co-signatures: auditor names and statements are accepted and refused exactly as by Python", noAuditors, () => {
  // The verdict is Python's (a problem, or none); the problem is said in this module's words.
  for (const [name, problem] of auditorExpect.units.names) {
    const got = auditorNameProblem(name);
    assert.equal(got === null, problem === null, `${JSON.stringify(name)}: ${got} / ${problem}`);
    if (got !== null) assert.match(got, /^the auditor name /, JSON.stringify(name));
  }
  for (const [data, problem] of auditorExpect.units.statements) {
    const got = statementProblem(new Uint8Array(Buffer.from(data, "base64")));
    assert.equal(got === null, problem === null, `${data.slice(0, 40)}: ${got} / ${problem}`);
    if (got !== null) assert.match(got, /^the statement /, data.slice(0, 40));
  }
  // A statement that is not UTF-8 just says so.
  assert.equal(statementProblem(new Uint8Array([0x6f, 0x6b, 0x20, 0xe2, 0x82])), "the statement is not UTF-8");
});

test("co-signatures: PEM keys are read as Python's cryptography reads them", noAuditors, async () => {
  for (const [data, fingerprint] of auditorExpect.units.pems) {
    const text = new TextDecoder().decode(Buffer.from(data, "base64"));
    let got;
    try {
      got = await publicKeyFingerprint(text);
    } catch (e) {
      assert.ok(e instanceof FormatError, e);
      got = null;
    }
    assert.equal(got, fingerprint, JSON.stringify(text));
  }
});

test("hostile JSON fails as malformed, never as a crash: deep nesting, lone surrogates", () => {
  const deep = new TextEncoder().encode("[".repeat(200_000) + "]".repeat(200_000));
  assert.throws(() => parseAttestation(deep), (e) => e instanceof FormatError && /nested too deeply/.test(e.message));
  const lone = new TextEncoder().encode('{"format":"\\ud800"}');
  assert.throws(
    () => parseAttestation(lone),
    (e) => e instanceof FormatError && /cannot be put in RFC 8785 canonical form/.test(e.message),
  );
});

// ---------------------------------------------------------------- porsegregate/2 (issue 10)
// Hand-made bundles, shards, manifests and attestations of the fixed v2 layout, built here from
// the design's byte layout, so the decoder is tested apart from the publisher's vectors.

const enc = new TextEncoder();
const bytesOf = (...parts) => Buffer.concat(parts.map((p) => Buffer.from(p)));
const lpBytes = (b) => bytesOf([b.length], b);
const beBytes = (value, n) => {
  const out = Buffer.alloc(n);
  let v = BigInt(value);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
};
const V2_ASSETS = ["BTC", "ETH", "SOL", "USDT"];

/** A porsegregate/2 plaintext: slots [{j, leaves: [{index, amount, siblings: [[hash, sum]]}]}]. */
function psb2({ epoch = "2026-11", account = "alice@example.com", accountField = null, k = null, s = null, slots, parts = 2, height = 3, filler = null, magic = "PSB2", version = FORMAT_V2, assets = V2_ASSETS.length, width = 16 }) {
  const count = k ?? slots.length;
  const total = s ?? bundleSlots(count, assets);
  const name = enc.encode(account);
  const field = accountField ?? bytesOf([name.length], name, Buffer.alloc(128 - name.length));
  const body = slots.map(({ j, leaves }) =>
    bytesOf(
      beBytes(j, 2),
      ...leaves.map((l) => bytesOf(beBytes(l.index, 8), beBytes(l.amount, width), ...l.siblings.map(([h, sum]) => bytesOf(h, beBytes(sum, width))))),
    ),
  );
  const L = slotBytes(parts, height, width);
  return bytesOf(
    enc.encode(magic),
    lpBytes(enc.encode(version)),
    lpBytes(enc.encode(epoch)),
    field,
    beBytes(count, 2),
    beBytes(total, 2),
    ...body,
    filler ?? Buffer.alloc(Math.max(0, total - slots.length) * L),
  );
}

const v2Layout = (parts = 2, height = 3, width = 16) => ({
  format: FORMAT_V2,
  assets: V2_ASSETS.map((code) => ({ code })),
  height,
  parts,
  sumBytes: width,
});
const leafOf = (index, amount, height = 3, fill = 7) => ({
  index,
  amount,
  siblings: Array.from({ length: height }, (_, level) => [Buffer.alloc(32, fill + level), BigInt(level + 1)]),
});
const threeSlots = () => [
  { j: 0, leaves: [leafOf(1, 10n), leafOf(6, 20n)] },
  { j: 2, leaves: [leafOf(3, 0n), leafOf(4, 5n)] },
  { j: 3, leaves: [leafOf(0, 1n), leafOf(7, 2n)] },
];

test("v2 bundle: slots(k) is 1, 2, 4, 8 ... capped at A; a slot is 2 + P(8 + S + (32 + S)h) bytes", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 8, 9].map((k) => bundleSlots(k, 16)), [1, 2, 4, 4, 8, 8, 16]);
  assert.deepEqual([1, 2, 3].map((k) => bundleSlots(k, 3)), [1, 2, 3]);
  assert.equal(slotBytes(2, 3, 16), 2 + 2 * (8 + 16 + 48 * 3));
  assert.equal(slotBytes(1, 24, 16), 2 + 24 + 48 * 24);
  assert.equal(slotBytes(1, 12, 8), 2 + 16 + 40 * 12);
  // S: the byte length of the largest total, at least 1.
  assert.deepEqual([[], [0n], [255n], [256n, 3n], [2n ** 64n - 1n], [2n ** 64n], [2n ** 128n - 1n]].map(sumBytes), [1, 1, 1, 2, 8, 9, 16]);
});

test("v2 bundle: amounts and sibling sums are S bytes wide (S from the attestation)", () => {
  const slots = [{ j: 1, leaves: [leafOf(0, 200n), leafOf(5, 1n)] }];
  const plain = psb2({ slots, width: 3 });
  assert.equal(plain.length, 4 + 15 + 1 + 7 + 129 + 4 + slotBytes(2, 3, 3));
  const b = decodeBundle(plain, v2Layout(2, 3, 3));
  assert.deepEqual(b.assets[0].leaves.map((l) => [l.index, l.amount, l.siblings[2][1]]), [[0n, 200n, 3n], [5n, 1n, 3n]]);
  // Read with another S, the same bytes are the wrong length.
  assert.throws(() => decodeBundle(plain, v2Layout(2, 3, 4)), /bytes long/);
});

test("v2 bundle: a hand-made PSB2 plaintext (P=2, h=3) decodes by the fixed layout", () => {
  const plain = psb2({ slots: threeSlots() });
  // 4 + 15 + 1 + len(e) + 129 + 4 + s x L, with s = slots(3) = 4 of A = 4.
  assert.equal(plain.length, 4 + 15 + 1 + 7 + 129 + 4 + 4 * slotBytes(2, 3, 16));
  const b = decodeBundle(plain, v2Layout());
  assert.equal(b.version, FORMAT_V2);
  assert.equal(b.epoch, "2026-11");
  assert.equal(b.accountId, "alice@example.com");
  assert.deepEqual([...b.accountIdBytes], [...enc.encode("alice@example.com")]);
  assert.deepEqual(b.assets.map((a) => [a.asset, a.position]), [["BTC", 0], ["SOL", 2], ["USDT", 3]]);
  const btc = b.assets[0].leaves;
  assert.deepEqual(btc.map((l) => [l.part, l.index, l.amount]), [[0, 1n, 10n], [1, 6n, 20n]]);
  assert.equal(btc[1].siblings.length, 3);
  assert.deepEqual([...btc[1].siblings[2][0]], [...Buffer.alloc(32, 9)]);
  assert.equal(btc[1].siblings[2][1], 3n);
  // One asset of one: no filler; a 128-byte account id fills its field.
  const long = "a".repeat(128);
  const one = decodeBundle(psb2({ account: long, slots: [{ j: 1, leaves: [leafOf(0, 1n), leafOf(1, 1n)] }] }), v2Layout());
  assert.equal(one.accountId, long);
  assert.deepEqual(one.assets.map((a) => a.asset), ["ETH"]);
  // A position past the attestation's assets is read as "#<j>" (as Python), left to asset-known.
  const unknown = decodeBundle(psb2({ slots: [{ j: 0, leaves: [leafOf(0, 1n), leafOf(1, 1n)] }, { j: 9, leaves: [leafOf(0, 1n), leafOf(1, 1n)] }] }), v2Layout());
  assert.deepEqual(unknown.assets.map((a) => [a.asset, a.position]), [["BTC", 0], ["#9", 9]]);
});

test("v2 bundle: every layout rule of the design is a format error", () => {
  const bad = (what, plain, message, layout = v2Layout()) =>
    assert.throws(() => decodeBundle(plain, layout), (e) => e instanceof FormatError && message.test(e.message), what);
  const good = psb2({ slots: threeSlots() });
  const filler = Buffer.alloc(slotBytes(2, 3, 16));
  filler[filler.length - 1] = 1;
  bad("filler not zero", psb2({ slots: threeSlots(), filler }), /filler/);
  bad("s is not slots(k)", psb2({ slots: threeSlots(), s: 3 }), /slots/);
  bad("s larger than slots(k)", psb2({ slots: threeSlots().slice(0, 2), s: 4 }), /slots/);
  bad("k above A", psb2({ slots: threeSlots(), k: 5, s: 4 }), /slots/);
  bad("k zero", psb2({ slots: [], k: 0, s: 1 }), /no asset/);
  bad("one byte more", bytesOf(good, [0]), /bytes long/);
  bad("one byte less", good.subarray(0, good.length - 1), /bytes long/);
  bad("truncated header", good.subarray(0, 30), /truncated/);
  const twice = threeSlots();
  twice[2].j = 2;
  bad("j twice", psb2({ slots: twice }), /asset SOL is listed twice/);
  const backwards = threeSlots();
  [backwards[0].j, backwards[1].j] = [2, 0];
  bad("j out of order", psb2({ slots: backwards }), /asset BTC is out of the attestation's order \(after SOL\)/);
  const name = enc.encode("alice");
  bad("empty account id", psb2({ slots: threeSlots(), accountField: Buffer.alloc(129) }), /account id is 0 bytes/);
  bad("account length 129", psb2({ slots: threeSlots(), accountField: bytesOf([129], Buffer.alloc(128, 0x61)) }), /account id is 129 bytes/);
  const dirty = bytesOf([name.length], name, Buffer.alloc(128 - name.length));
  dirty[128] = 1;
  bad("bytes after the account id", psb2({ slots: threeSlots(), accountField: dirty }), /after the account id/);
  bad("account id not UTF-8", psb2({ slots: threeSlots(), accountField: bytesOf([2, 0xc3, 0x28], Buffer.alloc(126)) }), /not UTF-8/);
  bad("version /1 inside PSB2", psb2({ slots: threeSlots(), version: FORMAT_V1 }), /unsupported bundle version/);
  bad("wrong magic", psb2({ slots: threeSlots(), magic: "PSB3" }), /not a porsegregate proof bundle/);
  bad("P from the attestation differs", good, /bytes long/, v2Layout(3, 3));
  bad("h from the attestation differs", good, /bytes long/, v2Layout(2, 4));
  // The versions do not mix: a PSB1 under a v2 attestation, a PSB2 under a v1 one (or none).
  const psb1 = bytesOf(enc.encode("PSB1"), lpBytes(enc.encode(FORMAT_V1)), lpBytes(enc.encode("2026-11")), lpBytes(enc.encode("a")), [0]);
  assert.throws(() => decodeBundle(psb1), /the proof lists no asset/, "a v1 bundle lists at least one asset");
  bad("PSB1 under v2", psb1, /porsegregate\/1 proof bundle under a porsegregate\/2 attestation/);
  bad("PSB2 under v1", good, /porsegregate\/2 proof bundle under a porsegregate\/1 attestation/, { format: FORMAT_V1 });
  assert.throws(() => decodeBundle(good), /porsegregate\/2 proof bundle under a porsegregate\/1/);
});

test("v2 entries: the aad is lp(porsegregate/2) || lp(e) || lookup; v1's stays lp(porsegregate/1)", () => {
  const lookup = Buffer.alloc(16, 0xab);
  assert.deepEqual(Buffer.from(bundleAad("e1", lookup, FORMAT_V2)), bytesOf(lpBytes(enc.encode("porsegregate/2")), lpBytes(enc.encode("e1")), lookup));
  assert.deepEqual(Buffer.from(bundleAad("e1", lookup)), bytesOf(lpBytes(enc.encode("porsegregate/1")), lpBytes(enc.encode("e1")), lookup));
  assert.deepEqual(bundleAad("e1", lookup, FORMAT_V1), bundleAad("e1", lookup));
});

test("shards (both versions): lookups strictly increasing and under the shard's prefix", () => {
  const shard = (...lookups) =>
    bytesOf(enc.encode("PSS1"), beBytes(lookups.length, 4), ...lookups.map((l, i) => bytesOf(Buffer.from(l, "hex"), beBytes(1, 4), [i])));
  const a = "ab" + "00".repeat(15);
  const b = "ab" + "01".repeat(15);
  const c = "ac" + "00".repeat(15);
  assert.deepEqual([...decodeShard(shard(a, b), "ab").keys()], [a, b]);
  assert.deepEqual([...decodeShard(shard(a, b, c), "").keys()], [a, b, c]);
  assert.deepEqual([...decodeShard(shard(a, c)).keys()], [a, c]);
  assert.deepEqual(decodeShard(shard(), "ab").size, 0);
  for (const [what, data, prefix, message] of [
    ["unsorted", shard(b, a), "ab", /unsorted or duplicated/],
    ["duplicated", shard(a, a), "ab", /unsorted or duplicated/],
    ["outside the prefix", shard(a, c), "ab", /prefix "ab"/],
    ["outside a one-digit prefix", shard(c), "b", /prefix "b"/],
    ["trailing bytes", bytesOf(shard(a), [0]), "a", /trailing/],
  ]) {
    assert.throws(() => decodeShard(data, prefix), (e) => e instanceof FormatError && message.test(e.message), what);
  }
});

test("v2 manifest: proofs.entries fixes shard_bits (smallest b with E <= 32 x 2^b); shards_root is 64 hex", () => {
  assert.deepEqual([1, 32, 33, 64, 65, 4096, 4097, 2 ** 32 - 1].map(shardBits), [0, 0, 1, 1, 2, 7, 8, 27]);
  assert.deepEqual([1, 256, 257, 4096, 4097, 65536, 65537, 2 ** 32 - 1].map(shardPrefixChars), [0, 0, 1, 1, 2, 2, 3, 6]);
  const root = "ef".repeat(32);
  const manifest = (format, proofs) =>
    Buffer.from(canonicalJson({ format, epoch: "e1", attestation_sha256: "ab".repeat(32), proofs, files: { "attestation.json": "cd".repeat(32) } }));
  const m = parseManifest(manifest(FORMAT_V2, { entries: 4097, shard_bits: 8, shards_root: root }));
  assert.deepEqual([m.format, m.entries, m.shardBits, m.shardsRoot], [FORMAT_V2, 4097, 8, root]);
  const v1 = parseManifest(manifest(FORMAT_V1, { shard_prefix_hex_chars: 1 }));
  const extra = Buffer.from(canonicalJson({ ...JSON.parse(manifest(FORMAT_V1, { shard_prefix_hex_chars: 0 })), clients: 3 }));
  assert.throws(() => parseManifest(extra), /manifest has unknown member\(s\) clients/);
  assert.deepEqual([v1.format, v1.entries, v1.shardPrefixChars, v1.shardBits], [FORMAT_V1, null, 1, null]);
  for (const [what, format, proofs, message] of [
    ["b too small", FORMAT_V2, { entries: 4097, shard_bits: 7, shards_root: root }, /for 4097 entries it is 8/],
    ["b too large", FORMAT_V2, { entries: 32, shard_bits: 1, shards_root: root }, /for 32 entries it is 0/],
    ["no entries", FORMAT_V2, { shard_bits: 0, shards_root: root }, /proofs\.entries is missing/],
    ["no root", FORMAT_V2, { entries: 5, shard_bits: 0 }, /proofs\.shards_root is missing/],
    ["upper-case root", FORMAT_V2, { entries: 5, shard_bits: 0, shards_root: "EF".repeat(32) }, /shards_root is not 64 lowercase hex/],
    ["short root", FORMAT_V2, { entries: 5, shard_bits: 0, shards_root: root.slice(1) }, /shards_root is not 64 lowercase hex/],
    ["zero entries", FORMAT_V2, { entries: 0, shard_bits: 0, shards_root: root }, /1 to 2\^32-1/],
    ["2^32 entries", FORMAT_V2, { entries: 2 ** 32, shard_bits: 27, shards_root: root }, /1 to 2\^32-1/],
    ["entries not an integer", FORMAT_V2, { entries: "5", shard_bits: 0, shards_root: root }, /must be an integer/],
    ["an unknown format", "porsegregate/3", { entries: 5, shard_bits: 0, shards_root: root }, /manifest format is not/],
    ["v1 with entries", FORMAT_V1, { entries: 5, shard_prefix_hex_chars: 0 }, /proofs has unknown member\(s\) entries/],
    ["v2 with the old prefix", FORMAT_V2, { entries: 5, shard_bits: 0, shards_root: root, shard_prefix_hex_chars: 0 }, /unknown member\(s\) shard_prefix_hex_chars/],
  ]) {
    assert.throws(() => parseManifest(manifest(format, proofs)), (e) => e instanceof FormatError && message.test(e.message), what);
  }
});

test("v2 shards: index from the lookup's first b bits, names of ceil(b/4) hex digits, PSS2 paths fold to the root", async () => {
  const lookup = Buffer.from("ab" + "00".repeat(15), "hex");
  assert.deepEqual([0, 1, 4, 5, 7, 8].map((b) => shardIndex(lookup, b)), [0, 1, 10, 21, 85, 171]);
  assert.deepEqual([[0, 0], [1, 1], [10, 4], [21, 5], [85, 7], [171, 8], [5, 9]].map(([i, b]) => shardFile(i, b)),
    ["proofs/all.bin", "proofs/1.bin", "proofs/a.bin", "proofs/15.bin", "proofs/55.bin", "proofs/ab.bin", "proofs/005.bin"]);
  // Two shards (b = 1): shard 0 empty, shard 1 holding one entry.
  const body0 = beBytes(0, 4);
  const entryLookup = Buffer.from("80" + "11".repeat(15), "hex");
  const body1 = bytesOf(beBytes(1, 4), entryLookup, beBytes(2, 4), [7, 9]);
  const leaf0 = await shardLeaf("e1", 1, 0, body0);
  const leaf1 = await shardLeaf("e1", 1, 1, body1);
  const node = async (l, r) => Buffer.from(await sha256(bytesOf([7], l, r)));
  const root = toHex(await node(leaf0, leaf1));
  assert.equal(toHex(await shardRootOf(leaf1, 1, [leaf0])), root);
  assert.equal(toHex(await shardRootOf(leaf0, 0, [leaf1])), root);
  const file1 = bytesOf(enc.encode("PSS2"), [1], beBytes(1, 4), leaf0, body1);
  const shard = decodeShardV2(file1);
  assert.deepEqual([shard.bits, shard.index, shard.entries.size], [1, 1, 1]);
  assert.deepEqual([...shard.entries.get(toHex(entryLookup))], [7, 9]);
  const manifest = { shardBits: 1, shardsRoot: root };
  assert.equal((await shardV2Problem("proofs/1.bin", file1, manifest, "e1")).problem, null);
  assert.match((await shardV2Problem("proofs/0.bin", file1, manifest, "e1")).problem, /served under another shard's name/);
  assert.match((await shardV2Problem("proofs/1.bin", file1, manifest, "e2")).problem, /does not fold/);
  assert.match((await shardV2Problem("proofs/1.bin", file1, { shardBits: 2, shardsRoot: root }, "e1")).problem, /of 1 bits/);
  for (const [what, data, message] of [
    ["entry outside its shard", bytesOf(enc.encode("PSS2"), [1], beBytes(0, 4), leaf1, body1), /not in shard 0/],
    ["index past 2^b", bytesOf(enc.encode("PSS2"), [1], beBytes(2, 4), leaf0, body0), /not below 2\^1/],
    ["PSS1", bytesOf(enc.encode("PSS1"), body0), /not a porsegregate\/2 shard/],
    ["truncated path", bytesOf(enc.encode("PSS2"), [1], beBytes(1, 4), leaf0.subarray(0, 5)), /truncated/],
  ]) {
    assert.throws(() => decodeShardV2(data), (e) => e instanceof FormatError && message.test(e.message), what);
  }
});

test("shard vectors: the client's shard-hash agrees with Python on every case", async () => {
  assert.ok(shardsV2.length >= 10);
  for (const c of shardsV2) {
    let manifest;
    try {
      manifest = parseManifest(Buffer.from(c.manifest, "base64"));
    } catch (e) {
      assert.ok(e instanceof FormatError, c.name);
      assert.deepEqual(c.expect, { ok: false, failed: "format" }, c.name);
      continue;
    }
    const lookup = Buffer.from(c.lookup, "hex");
    const name = shardFile(shardIndex(lookup, manifest.shardBits), manifest.shardBits);
    const { shard, problem } = await shardV2Problem(name, new Uint8Array(Buffer.from(c.shard, "base64")), manifest, c.epoch);
    if (problem !== null) {
      assert.deepEqual(c.expect, { ok: false, failed: "shard-hash" }, `${c.name}: ${problem}`);
      continue;
    }
    assert.equal(c.expect.ok, true, c.name);
    assert.equal(toHex(await sha256(shard.entries.get(c.lookup))), c.expect.entry_sha256, c.name);
  }
});

/** The vectors' valid attestation made porsegregate/2: every asset `parts` and one height. */
function v2Attestation(edit = () => {}, parts = 2, height = 20) {
  return editedAttestation((d) => {
    d.format = FORMAT_V2;
    for (const a of d.liabilities.assets) {
      a.parts = parts;
      a.padded_height = height;
    }
    edit(d);
  });
}

test("v2 attestation: parts required (1..16), one padded_height (1..64) and one parts for all", () => {
  const a = parseAttestation(v2Attestation());
  assert.equal(a.format, FORMAT_V2);
  assert.equal(a.height, 20);
  assert.equal(a.parts, 2);
  assert.ok(a.assets.length >= 2 && a.assets.every((x) => x.parts === 2 && x.paddedHeight === 20));
  assert.equal(parseAttestation(v2Attestation(() => {}, 16, 64)).parts, 16);
  assert.equal(parseAttestation(v2Attestation(() => {}, 1, 1)).height, 1);
  const v1 = parseAttestation(editedAttestation(() => {}));
  assert.equal(v1.format, FORMAT_V1);
  assert.ok(v1.assets.every((x) => x.parts === null));
  for (const [what, doc, message] of [
    ["v1 with parts", editedAttestation((d) => (d.liabilities.assets[0].parts = 1)), /unknown member\(s\) parts/],
    ["v2 without parts", v2Attestation((d) => delete d.liabilities.assets[1].parts), /parts is missing/],
    ["parts 0", v2Attestation(() => {}, 0), /parts must be 1 to 16/],
    ["parts 17", v2Attestation(() => {}, 17), /parts must be 1 to 16/],
    ["parts not an integer", v2Attestation((d) => (d.liabilities.assets[0].parts = "2")), /must be an integer/],
    ["height 0 in v2", v2Attestation(() => {}, 2, 0), /padded_height out of range/],
    ["height 65", v2Attestation(() => {}, 2, 65), /padded_height out of range/],
    ["heights differ", v2Attestation((d) => (d.liabilities.assets[1].padded_height = 21)), /same padded_height and the same parts/],
    ["parts differ", v2Attestation((d) => (d.liabilities.assets[1].parts = 3)), /same padded_height and the same parts/],
    ["an unknown format", editedAttestation((d) => (d.format = "porsegregate/3")), /is not porsegregate\/1 or porsegregate\/2/],
  ]) {
    assert.throws(() => parseAttestation(doc), (e) => e instanceof FormatError && message.test(e.message), what);
  }
});

test("v2 attestation: the liabilities hash of proofs of control includes parts", async () => {
  const doc = JSON.parse(v2Attestation().toString("utf8"));
  const a = parseAttestation(v2Attestation());
  const expected = toHex(await sha256(enc.encode(canonicalJson(doc.liabilities))));
  assert.equal(await liabilitiesSha256(a.assets), expected);
  // v1: no parts, the signed section as it is.
  const v1doc = JSON.parse(editedAttestation(() => {}).toString("utf8"));
  const v1 = parseAttestation(editedAttestation(() => {}));
  assert.equal(await liabilitiesSha256(v1.assets), toHex(await sha256(enc.encode(canonicalJson(v1doc.liabilities)))));
  assert.notEqual(await liabilitiesSha256(a.assets), await liabilitiesSha256(v1.assets));
});

// ---------------------------------------------------------------- porsegregate/2 end to end, hand-made
// A whole v2 proof file built here from the design: two assets (A = 2), trees of height 3, each
// balance in 2 parts, an attestation signed by a key made for the test (no wallets: a signed
// shortfall, which still verifies), a porsegregate-proof/1 file (no log). Each forgery below is
// re-encrypted with the client's key, so only the check it targets can catch it.

const V2 = { epoch: "2026-11", height: 3, parts: 2 };
const amt16 = (v) => beBytes(v, 16);
const nodeOf = async (l, ls, r, rs) => [Buffer.from(await sha256(bytesOf([1], l, amt16(ls), r, amt16(rs)))), ls + rs];

/** The tree of `leaves` (Map index -> [hash, sum]) of height h; empty leaves hash to filler. */
async function buildTree(leaves, height) {
  let level = [];
  for (let i = 0; i < 2 ** height; i++) level.push(leaves.get(i) ?? [Buffer.alloc(32, 0xee - i), 0n]);
  const levels = [level];
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i < level.length; i += 2) next.push(await nodeOf(level[i][0], level[i][1], level[i + 1][0], level[i + 1][1]));
    level = next;
    levels.push(level);
  }
  const path = (index) => levels.slice(0, height).map((nodes, k) => nodes[(index >> k) ^ 1]);
  return { root: level[0][0], total: level[0][1], path };
}

/** A signed v2 proof file for the codes.json client; `forge` may edit the slots, totals and bytes. */
async function v2ProofFile(forge = {}) {
  const c = codes.cases[0];
  const keys = await deriveEpochKeys(await parseCode(c.code), V2.epoch);
  const commitment = await accountCommitment(V2.epoch, keys.nonce, c.account_id);
  const holdings = { BTC: [[5, 30n], [2, 70n]], ETH: [[0, 1n], [7, 0n]] };
  const assets = [];
  const slots = [];
  for (const [j, code] of ["BTC", "ETH"].entries()) {
    const leaves = new Map([[1, [Buffer.alloc(32, 0x11), 1000n]], [3, [Buffer.alloc(32, 0x33), 5n]]]);
    for (const [p, [index, amount]] of holdings[code].entries()) {
      leaves.set(index, [Buffer.from(await leafHash(V2.epoch, code, commitment, p, amount)), amount]);
    }
    const tree = await buildTree(leaves, V2.height);
    assets.push({ code, decimals: 8, padded_height: V2.height, parts: V2.parts, root: tree.root.toString("hex"), total: String(tree.total) });
    slots.push({ j, leaves: holdings[code].map(([index, amount]) => ({ index, amount, siblings: tree.path(index) })) });
  }
  (forge.slots ?? (() => {}))(slots, assets);
  const doc = JSON.parse(editedAttestation(() => {}).toString("utf8"));
  doc.format = FORMAT_V2;
  doc.liabilities.assets = assets;
  doc.reserves = {
    chains: [],
    wallets: [],
    coverage: assets.map((a) => ({
      asset: a.code,
      decimals: 8,
      liabilities: a.total,
      client_segregated: "0",
      client_dedicated: "0",
      client_dedicated_counted: "0",
      third_party: "0",
      proprietary: "0",
      dedicated_shortfalls: 0,
      segregated_percent: a.total === "0" ? null : "0.00",
      including_third_party_percent: a.total === "0" ? null : "0.00",
      covered: a.total === "0",
    })),
    shortfall: true,
  };
  (forge.attestation ?? (() => {}))(doc);
  const attestation = Buffer.from(canonicalJson(doc));
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const signature = Buffer.from(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, attestation));
  const spki = Buffer.from(await crypto.subtle.exportKey("spki", pair.publicKey)).toString("base64");
  // S: the byte length of the largest signed total (of the honest totals: a forged total
  // below stays in the same width).
  const width = sumBytes(assets.map((a) => BigInt(a.total)));
  let plain = psb2({ epoch: V2.epoch, account: forge.account ?? c.account_id, slots, parts: V2.parts, height: V2.height, assets: 2, width });
  plain = (forge.plaintext ?? ((p) => p))(plain);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const aad = forge.aad ?? bundleAad(V2.epoch, keys.lookup, FORMAT_V2);
  const aes = await crypto.subtle.importKey("raw", keys.key, "AES-GCM", false, ["encrypt"]);
  const sealed = Buffer.from(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad, tagLength: 128 }, aes, plain));
  const proof = {
    format: "porsegregate-proof/1",
    attestation: attestation.toString("base64"),
    attestation_sig: signature.toString("base64"),
    public_key_pem: `-----BEGIN PUBLIC KEY-----\n${spki}\n-----END PUBLIC KEY-----\n`,
    lookup: toHex(keys.lookup),
    entry: bytesOf(iv, sealed).toString("base64"),
  };
  return { proof, account: c.account_id, code: c.code };
}

const verifyV2 = async (forge) => {
  const { proof, account, code } = await v2ProofFile(forge);
  return verifyProof(proof, account, code, { now: "2026-12-01T00:00:00Z" });
};

test("v2 end to end: a hand-made proof verifies; each balance is the sum of its parts", async () => {
  const r = await verifyV2();
  assert.equal(r.verified, true, JSON.stringify(r.failed));
  assert.deepEqual(r.balances.map((b) => [b.asset, b.amount, b.parts]), [["BTC", "100", 2], ["ETH", "1", 2]]);
  assert.ok(r.shortfall, "no wallets: a signed shortfall");
  const ids = r.checks.map((k) => k.id);
  for (const code of ["BTC", "ETH"]) {
    const mine = r.checks.filter((k) => k.asset === code).map((k) => k.id);
    assert.deepEqual(mine, ["asset-known", "path-height", "index-range", "sum-range", "root-hash", "root-total"], code);
  }
  assert.deepEqual(ids.slice(ids.indexOf("proof-found"), ids.indexOf("proof-found") + 5), ["proof-found", "decrypt", "bundle-format", "bundle-epoch", "bundle-account"]);
});

test("v2 end to end: every forgery fails with the check the design names", async () => {
  const swap = (slots) => {
    const [a, b] = slots[0].leaves;
    [a.amount, b.amount] = [b.amount, a.amount];
  };
  const cases = [
    ["parts swapped (u32(p) is in the leaf)", { slots: swap }, { id: "root-hash", asset: "BTC" }],
    ["one part's amount raised", { slots: (s) => (s[1].leaves[1].amount = 1n) }, { id: "root-hash", asset: "ETH" }],
    ["the same index twice", { slots: (s) => (s[0].leaves[1].index = s[0].leaves[0].index) }, { id: "index-range", asset: "BTC" }],
    ["an index outside 2^h", { slots: (s) => (s[1].leaves[0].index = 8) }, { id: "index-range", asset: "ETH" }],
    [
      "parts adding up past 2^128-1 (a signed total of 2^127 makes S = 16)",
      {
        slots: (s, a) => {
          a[0].total = String(1n << 127n);
          for (const leaf of s[0].leaves) {
            leaf.amount = 1n << 127n;
            leaf.siblings = leaf.siblings.map(([h]) => [h, 0n]);
          }
        },
      },
      { id: "sum-range", asset: "BTC" },
    ],
    [
      "a sibling sum past 2^128-1 (a signed total of 2^127 makes S = 16)",
      {
        slots: (s, a) => {
          a[1].total = String(1n << 127n);
          s[1].leaves[0].siblings[2] = [s[1].leaves[0].siblings[2][0], (1n << 128n) - 1n];
        },
      },
      { id: "sum-range", asset: "ETH" },
    ],
    ["an amount at the S-byte maximum (above the signed total)", { slots: (s) => (s[0].leaves[0].amount = 0xffffn) }, { id: "root-hash", asset: "BTC" }],
    ["a total the tree does not add to", { slots: (_, a) => (a[1].total = String(BigInt(a[1].total) + 1n)) }, { id: "root-total", asset: "ETH" }],
    ["an asset position the attestation lacks", { slots: (s) => (s[1].j = 2) }, { id: "asset-known", asset: "#2" }],
    ["an asset twice", { slots: (s) => (s[1].j = 0) }, { id: "bundle-format", asset: null }],
    ["the v1 aad", { aad: null }, { id: "decrypt", asset: null }],
    ["the last sibling sum changed (A = 2: no filler)", { plaintext: (p) => bytesOf(p.subarray(0, p.length - 1), [1]) }, { id: "root-hash", asset: "ETH" }],
    ["a byte more", { plaintext: (p) => bytesOf(p, [0]) }, { id: "bundle-format", asset: null }],
    ["another account", { account: "bob@example.com" }, { id: "bundle-account", asset: null }],
    ["another epoch", { plaintext: (p) => Buffer.from(p.toString("latin1").replace("2026-11", "2026-10"), "latin1") }, { id: "bundle-epoch", asset: null }],
    ["a v2 attestation with differing parts", { attestation: (d) => (d.liabilities.assets[1].parts = 3) }, { id: "format", asset: null }],
  ];
  for (const [what, forge, expected] of cases) {
    if (forge.aad === null) {
      const c = codes.cases[0];
      const keys = await deriveEpochKeys(await parseCode(c.code), V2.epoch);
      forge.aad = bundleAad(V2.epoch, keys.lookup, FORMAT_V1);
    }
    const r = await verifyV2(forge);
    assert.equal(r.verified, false, what);
    assert.deepEqual({ id: r.failed.id, asset: r.failed.asset }, expected, what);
    assert.equal(r.checks.at(-1), r.failed, what);
  }
});

test("v2 end to end: a porsegregate/1 bundle under a v2 attestation is bundle-format", async () => {
  const c = codes.cases[0];
  const psb1 = bytesOf(enc.encode("PSB1"), lpBytes(enc.encode(FORMAT_V1)), lpBytes(enc.encode(V2.epoch)), lpBytes(enc.encode(c.account_id)), [0]);
  const r = await verifyV2({ plaintext: () => psb1 });
  assert.deepEqual({ id: r.failed.id, asset: r.failed.asset }, { id: "bundle-format", asset: null });
  assert.match(r.failed.detail, /porsegregate\/1 proof bundle under a porsegregate\/2 attestation/);
});

test("the v2 vectors cover the v2 checks: parts, layout, versions, strict members", () => {
  assert.ok(proofsV2.length >= 30);
  const failed = new Set(proofsV2.filter((c) => !c.expect.verified).map((c) => c.expect.failed.id));
  for (const id of ["bundle-format", "asset-known", "index-range", "sum-range", "root-hash", "decrypt", "bundle-epoch", "bundle-account", "format"]) {
    assert.ok(failed.has(id), id);
  }
  const formats = new Set(proofsV2.map((c) => JSON.parse(Buffer.from(c.proof.attestation, "base64")).format));
  assert.ok(formats.has(FORMAT_V2));
  const parts = proofsV2
    .filter((c) => c.expect.verified)
    .map((c) => parseAttestation(Buffer.from(c.proof.attestation, "base64")).parts);
  assert.ok(parts.includes(2) && parts.includes(1), "balances in 2 parts, and in one");
});

test("every signed object has exactly its members, as Python's parsers (issue 10 spec review)", () => {
  const hex = "ab".repeat(32);
  const doc = (o) => Buffer.from(canonicalJson(o));
  const extra = (parse, o, where) =>
    assert.throws(() => parse(doc({ ...o, extra: 1 })), (e) => e instanceof FormatError && e.message === `${where} has unknown member(s) extra`, where);
  extra(parseCheckpoint, { format: "porsegregate-checkpoint/1", log: hex, size: 3, root: hex, time: "2026-11-30T23:59:59Z", epoch: "2026-11" }, "checkpoint");
  extra(parseEntries, { format: "porsegregate-log-entries/1", entries: [] }, "entries");
  assert.throws(
    () => parseEntries(doc({ format: "porsegregate-log-entries/1", entries: [{ index: 0, epoch: "a", attestation_sha256: hex, x: 1 }] })),
    /entries\[0\] has unknown member\(s\) x/,
  );
  extra(parseInclusion, { format: "porsegregate-inclusion/1", index: 0, tree_size: 1, attestation_sha256: hex, path: [] }, "inclusion");
  extra(parseConsistency, { format: "porsegregate-consistency/1", first: 1, second: 1, path: [] }, "consistency");
  for (const [what, edit, message] of [
    ["a top-level member", (d) => (d.note = "x"), /^attestation has unknown member\(s\) note$/],
    ["a custodian member", (d) => (d.custodian.lei = "x"), /^custodian has unknown member\(s\) lei$/],
    ["an epoch member", (d) => (d.epoch.week = 3), /^epoch has unknown member\(s\) week$/],
    ["a segregation member", (d) => (d.segregation.trust = "x"), /^segregation has unknown member\(s\) trust$/],
    ["a reserves member", (d) => (d.reserves.total = "1"), /^reserves has unknown member\(s\) total$/],
    ["a block member", (d) => (d.reserves.chains[0].block.time = 1), /block has unknown member\(s\) time$/],
    ["an explorer member", (d) => (d.reserves.chains[0].explorer.tx = null), /explorer has unknown member\(s\) tx$/],
    ["a wallet member", (d) => (d.reserves.wallets[0].note = ""), /wallets\[0\] has unknown member\(s\) note$/],
    ["a holding member", (d) => (d.reserves.wallets[0].holdings[0].usd = "1"), /holdings\[0\] has unknown member\(s\) usd$/],
    ["a proof member", (d) => (d.reserves.wallets[0].proof.nonce = "1"), /proof has unknown member\(s\) nonce$/],
    ["a coverage member", (d) => (d.reserves.coverage[0].usd = "1"), /coverage\[0\] has unknown member\(s\) usd$/],
    ["no previous_attestation_sha256", (d) => delete d.previous_attestation_sha256, /previous_attestation_sha256 is missing/],
    ["a custodian name with a line break", (d) => (d.custodian.name = "Vector\nCustody"), /^custodian\.name contains a control or line-break character$/],
    ["a custodian name with a trailing space", (d) => (d.custodian.name = "Vector "), /^custodian\.name must be non-empty/],
  ]) {
    assert.throws(() => parseAttestation(editedAttestation(edit)), (e) => e instanceof FormatError && message.test(e.message), what);
  }
});

test("a manifest lists only paths inside the site", () => {
  const manifest = (files) =>
    Buffer.from(canonicalJson({ format: FORMAT_V2, epoch: "e1", attestation_sha256: "ab".repeat(32), proofs: { entries: 5, shard_bits: 0, shards_root: "ef".repeat(32) }, files }));
  const digest = "cd".repeat(32);
  assert.deepEqual(Object.keys(parseManifest(manifest({ "attestation.json": digest, "proofs/all.bin": digest, "epochs/e0/a.json": digest })).files).length, 3);
  for (const path of ["", "../x", "a/../b", "./a", "a//b", "a/", "/a", "a\\b", "a/."]) {
    assert.throws(() => parseManifest(manifest({ [path]: digest })), /not a path inside the site/, JSON.stringify(path));
  }
});
