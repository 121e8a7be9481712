// The independent check of medrelay's FHIR: FHIR.js (npm `fhir` 4.12.0, which bundles the R4
// StructureDefinitions and value sets) validates every resource in a folder (what the tests
// read from `/fhir/r4`, kept by `testkit::fhir_r4`). Any error fails; warnings (codes of
// medrelay's own systems in example-bound elements) are counted, not fatal.
// Usage: NODE_PATH=<node_modules with fhir> node .ci/fhir-validate.js <folder>
'use strict';
const fs = require('fs');
const path = require('path');
const { Fhir } = require('fhir');

const folder = process.argv[2];
if (!folder) {
    console.error('usage: node .ci/fhir-validate.js <folder of .json resources>');
    process.exit(2);
}
const fhir = new Fhir();
const names = fs.readdirSync(folder).filter((n) => n.endsWith('.json')).sort();
let invalid = 0;
let warnings = 0;
for (const name of names) {
    const resource = JSON.parse(fs.readFileSync(path.join(folder, name), 'utf8'));
    const { messages } = fhir.validate(resource, { errorOnUnexpected: true });
    const errors = messages.filter((m) => m.severity === 'error');
    warnings += messages.filter((m) => m.severity === 'warning').length;
    if (errors.length > 0) {
        invalid += 1;
        console.log(`${name}:`);
        for (const error of errors) {
            console.log(`  ${error.location}: ${error.message}`);
        }
    }
}
console.log(`FHIR.js checked ${names.length} resources: ${invalid} invalid, ${warnings} warnings`);
process.exit(names.length > 0 && invalid === 0 ? 0 : 1);
