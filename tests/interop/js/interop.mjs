// An independent W3C VC implementation (Digital Bazaar's vc, data-integrity, eddsa-rdfc-2022, Ed25519Signature2020
// and bitstring status list libraries) driven by the Python interop tests: one JSON request on stdin, one JSON
// answer on stdout. Nothing is fetched: contexts and documents (DID documents, status lists) come in the request,
// did:key is resolved by @digitalbazaar/did-method-key.
//
//   {"command": "verify", "credential": {...}, "contexts": {url: doc}, "documents": {url: doc}}
//   {"command": "issue", "suite": "eddsa-rdfc-2022" | "Ed25519Signature2020", "credential": {...}, "contexts": {...}}
//     (the credential's issuer is set to a fresh did:key)

import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {driver as didKeyDriver} from '@digitalbazaar/did-method-key';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {Ed25519Signature2020} from '@digitalbazaar/ed25519-signature-2020';
import {Ed25519VerificationKey2020} from '@digitalbazaar/ed25519-verification-key-2020';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as vc from '@digitalbazaar/vc';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import {randomBytes} from 'node:crypto';

const didKeys = didKeyDriver();
didKeys.use({multibaseMultikeyHeader: 'z6Mk', fromMultibase: Ed25519Multikey.from});

function loaderFor({contexts = {}, documents = {}}) {
  return async url => {
    if(Object.hasOwn(contexts, url)) {
      return {contextUrl: null, documentUrl: url, document: contexts[url]};
    }
    if(url.startsWith('did:key:')) {
      return {contextUrl: null, documentUrl: url, document: await didKeys.get({url})};
    }
    const [base, fragment] = url.split('#');
    if(Object.hasOwn(documents, base)) {
      const document = documents[base];
      if(fragment === undefined) {
        return {contextUrl: null, documentUrl: url, document};
      }
      const method = (document.verificationMethod || []).find(m => m.id === url);
      if(method) {
        return {
          contextUrl: null,
          documentUrl: url,
          document: {'@context': 'https://w3id.org/security/multikey/v1', ...method}
        };
      }
    }
    throw new Error(`${url} is not available offline`);
  };
}

async function verify(request) {
  const documentLoader = loaderFor(request);
  const suite = [
    new DataIntegrityProof({cryptosuite: eddsaRdfc2022}),
    new Ed25519Signature2020()
  ];
  const result = await vc.verifyCredential({
    credential: request.credential, suite, documentLoader, checkStatus
  });
  const errors = [result.error, ...(result.results || []).map(r => r.error)]
    .filter(Boolean).map(e => String(e.message || e));
  return {
    verified: result.verified,
    errors,
    statuses: (result.statusResult?.results || []).map(r => ({
      verified: r.verified, status: r.status, purpose: r.credentialStatus?.statusPurpose
    }))
  };
}

async function issue(request) {
  const documentLoader = loaderFor(request);
  const seed = randomBytes(32);
  let suite;
  let did;
  if(request.suite === 'Ed25519Signature2020') {
    const probe = await Ed25519VerificationKey2020.generate({seed});
    did = `did:key:${probe.publicKeyMultibase}`;
    const key = await Ed25519VerificationKey2020.generate({
      seed, controller: did, id: `${did}#${probe.publicKeyMultibase}`
    });
    suite = new Ed25519Signature2020({key});
  } else {
    const probe = await Ed25519Multikey.generate({seed});
    did = `did:key:${probe.publicKeyMultibase}`;
    const signer = (await Ed25519Multikey.generate({
      seed, controller: did, id: `${did}#${probe.publicKeyMultibase}`
    })).signer();
    suite = new DataIntegrityProof({signer, cryptosuite: eddsaRdfc2022});
  }
  const credential = {...request.credential, issuer: did};
  return {credential: await vc.issue({credential, suite, documentLoader})};
}

const chunks = [];
for await (const chunk of process.stdin) {
  chunks.push(chunk);
}
const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const commands = {verify, issue};
if(!Object.hasOwn(commands, request.command)) {
  process.stderr.write(`unknown command ${request.command}\n`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(await commands[request.command](request)));
