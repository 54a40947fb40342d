// Runs fqm-execution over patient bundles and prints, per patient and group,
// the population results as NDJSON: {"patient","group","populations":{code:0|1}}.
// usage: node fqm-populations.js <measure-bundle.json> <periodStart> <periodEnd> <bundle.json|dir>...
// Needs fqm-execution (npm install fqm-execution@1.8.6) resolvable via NODE_PATH.
const fs = require('fs'), path = require('path');
const { Calculator } = require('fqm-execution');
const [mbPath, start, end, ...inputs] = process.argv.slice(2);
const mb = JSON.parse(fs.readFileSync(mbPath));
let files = [];
for (const a of inputs) {
  if (fs.statSync(a).isDirectory()) fs.readdirSync(a).filter(f => f.endsWith('.json')).sort().forEach(f => files.push(path.join(a, f)));
  else files.push(a);
}
const codes = { IPP: 'initial-population', DENOM: 'denominator', DENEX: 'denominator-exclusion', DENEXCEP: 'denominator-exception', NUMER: 'numerator', NUMEX: 'numerator-exclusion' };
(async () => {
  const bundles = files.map(f => {
    const b = JSON.parse(fs.readFileSync(f));
    return { resourceType: 'Bundle', type: 'collection', entry: b.entry.filter(e => !['MeasureReport', 'Bundle'].includes(e.resource.resourceType)).map(e => ({ resource: e.resource })) };
  });
  const t0 = Date.now();
  const { results } = await Calculator.calculate(mb, bundles, {
    calculateHTML: false, calculateSDEs: false, trustMetaProfile: process.env.TRUST_META === '1',
    measurementPeriodStart: start, measurementPeriodEnd: end,
  });
  const ms = Date.now() - t0;
  for (const r of results) {
    r.detailedResults.forEach((d, gi) => {
      const populations = {};
      for (const p of d.populationResults || []) populations[codes[p.populationType] || p.populationType] = p.result ? 1 : 0;
      console.log(JSON.stringify({ patient: r.patientId, group: gi, populations }));
    });
  }
  console.error(JSON.stringify({ patients: bundles.length, ms }));
})();
