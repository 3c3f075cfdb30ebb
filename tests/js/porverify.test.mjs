// The browser verifier under Node's test runner: the same vectors the Python
// verifier passes (tests/vectors/), plus a real published site when
// tests/test_js.py provides one (PORSEGREGATE_TEST_SITE, PORSEGREGATE_TEST_CODES).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import {
  accountCommitment,
  canonicalJson,
  CodeError,
  deriveEpochKeys,
  formatAmount,
  parseCode,
  toHex,
  verifyProof,
  verifySite,
} from "../../site/porverify.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const vectors = (name) => JSON.parse(readFileSync(join(here, "..", "vectors", name), "utf8"));
const proofs = vectors("proofs.json").cases;
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

for (const c of proofs) {
  test(`proof vector: ${c.name}`, async () => {
    const r = await verifyProof(c.proof, c.account_id, c.code, { expectKey: c.expect_key });
    assert.equal(r.verified, c.expect.verified, JSON.stringify(r.failed));
    if (c.expect.verified) {
      assert.deepEqual(Object.fromEntries(r.balances.map((b) => [b.asset, b.amount])), c.expect.balances);
      assert.equal(r.failed, null);
      assert.ok(r.checks.every((k) => k.ok));
      assert.match(r.keyFingerprint, /^[0-9a-f]{64}$/);
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
    if (canonicalJson(doc) === text) canonical++;
  }
  assert.ok(canonical >= seen.size - 3, `${canonical} of ${seen.size}`);
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
});

test("amounts are formatted exactly, without floats", () => {
  assert.equal(formatAmount(150000000n, 8), "1.5");
  assert.equal(formatAmount("0", 18), "0");
  assert.equal(formatAmount(12000000000000000001n, 18), "12.000000000000000001");
  assert.equal(formatAmount((1n << 128n) - 1n, 0), "340282366920938463463374607431768211455");
  assert.equal(formatAmount(7n, 6), "0.000007");
});

// ------------------------------------------------------------- a real site

const siteDir = process.env.PORSEGREGATE_TEST_SITE;
const codesCsv = process.env.PORSEGREGATE_TEST_CODES;

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
  const rows = readFileSync(codesCsv, "utf8").trim().split("\n").slice(1).map((l) => l.split(","));
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
  const rows = readFileSync(codesCsv, "utf8").trim().split("\n").slice(1).map((l) => l.split(","));
  const [account, code] = rows[0];
  let r = await verifySite(BASE, account, rows[1][1], { fetch: siteFetch(siteDir) });
  assert.equal(r.failed.id, "bundle-account");

  const flipLast = (b) => {
    b[b.length - 1] ^= 1;
    return b;
  };
  const manifest = JSON.parse(readFileSync(join(siteDir, "manifest.json"), "utf8"));
  const shards = Object.keys(manifest.files).filter((f) => f.startsWith("proofs/"));
  r = await verifySite(BASE, account, code, {
    fetch: siteFetch(siteDir, Object.fromEntries(shards.map((s) => [s, flipLast]))),
  });
  assert.equal(r.failed.id, "shard-hash");

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

test("the module has no imports and no network access other than the site", () => {
  const src = readFileSync(join(here, "..", "..", "site", "porverify.js"), "utf8");
  assert.doesNotMatch(src, /^\s*import\s/m);
  assert.doesNotMatch(src, /https?:\/\//);
  assert.doesNotMatch(src, /innerHTML|eval\(|new Function/);
});
