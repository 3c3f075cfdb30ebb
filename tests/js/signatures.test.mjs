// The browser's secp256k1 proofs of control (EIP-191, BIP-137, BIP-322 "simple") against the
// signature vectors the Python verifier passes (tests/vectors/evm_signatures.json and
// bitcoin_signatures.json, made by ethers, bitcoinjs and bip322-js, not by porsegregate):
// every good case verifies to the same key, every bad case fails with the same error class
// (and, for signature errors, the same reason as Python's message gives).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import "../../site/vendor/noble.js";
import {
  normalizeEvmAddress,
  toHex,
  verifyBip137,
  verifyBip322,
  verifyEip191,
  walletIdentity,
} from "../../site/porverify.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const load = (name) => JSON.parse(readFileSync(join(here, "..", "vectors", name), "utf8"));
const evm = load("evm_signatures.json");
const bitcoin = load("bitcoin_signatures.json");

async function failure(run) {
  try {
    await run();
  } catch (e) {
    return e;
  }
  return null;
}

function sameError(e, expectedClass, reason, name) {
  assert.ok(e, `${name}: verified, but Python rejects it`);
  assert.equal(e.constructor.name, expectedClass, `${name}: ${e.message}`);
  if (expectedClass === "SignatureError") assert.ok(e.message.includes(reason), `${name}: ${e.message} lacks ${reason}`);
}

test("the vectors are there, good and bad", () => {
  assert.ok(evm.good.length >= 5 && evm.bad.length >= 10);
  assert.ok(bitcoin.bip137.good.length >= 5 && bitcoin.bip137.bad.length >= 10);
  assert.ok(bitcoin.bip322.good.length >= 5 && bitcoin.bip322.bad.length >= 5 && bitcoin.bip322.bip_vectors.length);
});

for (const c of evm.good) {
  test(`EIP-191 good: ${c.name}`, () => {
    assert.equal(toHex(verifyEip191(c.message, c.address, c.signature)), c.expect_public_key);
    assert.equal(normalizeEvmAddress(c.address), c.expect_address);
  });
}

for (const c of evm.bad) {
  test(`EIP-191 bad: ${c.name}`, async () => {
    sameError(await failure(() => verifyEip191(c.message, c.address, c.signature)), c.error, c.contains, c.name);
  });
}

for (const c of bitcoin.bip137.good) {
  test(`BIP-137 good: ${c.name}`, async () => {
    assert.equal(toHex(await verifyBip137(c.message, c.address, c.signature, c.network)), c.public_key);
  });
}

for (const c of bitcoin.bip137.bad) {
  test(`BIP-137 bad: ${c.name}`, async () => {
    const e = await failure(() => verifyBip137(c.message, c.address, c.signature, c.network));
    sameError(e, c.error, c.match, c.name);
  });
}

for (const c of [...bitcoin.bip322.good, ...bitcoin.bip322.bip_vectors]) {
  test(`BIP-322 good: ${c.name}`, async () => {
    const key = toHex(await verifyBip322(c.message, c.address, c.signature, c.network));
    const kind = c.type ?? "p2wpkh";
    if (kind === "p2tr") {
      // The x-only output key, which is the address's witness program.
      assert.equal(key.length, 64);
      assert.ok((await walletIdentity({ kind: "bitcoin", network: c.network }, c.address)).endsWith(`5120${key}`));
    } else {
      assert.equal(key.length, 66);
      if (c.public_key) assert.equal(key, c.public_key);
    }
  });
}

for (const c of bitcoin.bip322.bad) {
  test(`BIP-322 bad: ${c.name}`, async () => {
    const e = await failure(() => verifyBip322(c.message, c.address, c.signature, c.network));
    sameError(e, c.error, c.match, c.name);
  });
}

test("EVM wallet identity checks EIP-55 checksums, as Python's", async () => {
  const good = evm.keys[0].address;
  const chain = { kind: "evm", network: "eip155:1" };
  assert.equal(await walletIdentity(chain, good), `evm:eip155:1:${good.slice(2).toLowerCase()}`);
  assert.equal(await walletIdentity(chain, good.toLowerCase()), await walletIdentity(chain, good));
  const flipped = good.slice(0, -1) + (good.at(-1) === good.at(-1).toUpperCase() ? good.at(-1).toLowerCase() : good.at(-1).toUpperCase());
  await assert.rejects(walletIdentity(chain, flipped), /EIP-55 checksum/);
});
