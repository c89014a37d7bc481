// The evidence report (`exportwall audit report`) in headless Chromium. Started by
// tests/integration/audit_review_page_test.cpp (EvidenceReport), which wrote a trail of many
// blocked transfers (many reasons, long names, forty days) and the report of it:
//   EW_REPORT      the report's HTML file
//   EW_SCREENSHOT  where to save the PNG of the report's top; its chart alone goes beside it
//                  (<name>-chart.png)
//   EW_PDF         where to save the A4 print (Chromium's print to PDF)
//   EW_CHROMIUM    the browser (default /usr/bin/chromium)
//   EW_EXPECT      {"blocked": blocked transfers, "reasons": distinct reasons, "lastHash": the
//                   chain's last hash as `audit verify` prints it, "accessErrors": n}
// Prints one line per check; exit 0 when all passed, 1 on the first failure, 2 on a setup error.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { assertLegendClear, bound, check, env, run, watchPage } from './common.mjs';

const report = env('EW_REPORT');
const screenshot = env('EW_SCREENSHOT');
const pdf = env('EW_PDF');
const expect = JSON.parse(env('EW_EXPECT'));

// A4 at 96 px per inch, less the report's @page margins (12 mm each side): the printable width.
const mm = 96 / 25.4;
const printable = Math.floor((210 - 2 * 12) * mm);

await run(screenshot, async (browser) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const watched = await watchPage(page);
    await page.goto(pathToFileURL(report).href, bound);

    const html = await readFile(report, 'utf8');
    assert.doesNotMatch(html, /<script|src=|href=/);
    check('the report is one self-contained document: no script, no external asset');

    // Every blocked transfer is listed with its time, audit id, client, purpose, destination,
    // reason and rule; the access errors are counted apart.
    const listed = await page.locator('#refusals tbody tr').count();
    assert.equal(listed, expect.blocked);
    assert.equal((await page.textContent('#blocked-total')).trim(), String(expect.blocked));
    const first = await page.locator('#refusals tbody tr').first().locator('td').allTextContents();
    assert.equal(first.length, 7);
    assert.match(first[0], /^\d{4}-\d\d-\d\dT/);
    assert.match(first[1], /^[0-9a-f]{32}$/);
    const r10 = await page.locator('#refusals tbody tr', { hasText: 'third_party_direct_marketing' })
        .first().locator('td').nth(6).textContent();
    assert.match(r10, /^R10: GDPR art\. 6\(1\)/);
    const refusalText = await page.textContent('#refusals');
    assert.ok(!refusalText.includes('unauthenticated') && !refusalText.includes('route_not_found'));
    const access = await page.locator('#access-errors tbody tr td:last-child').allTextContents();
    assert.equal(access.map(Number).reduce((a, b) => a + b, 0), expect.accessErrors);
    check(`the ${expect.blocked} blocked transfers are listed (time, audit id, client, purpose, ` +
          `destination, reason, rule and article); ${expect.accessErrors} access errors apart`);

    assert.equal((await page.textContent('#last-hash')).trim(), expect.lastHash);
    assert.match(await page.textContent('#checkpoint'), /none in the trail/);
    assert.match(await page.textContent('#chain'), /chain intact/);
    check(`the last hash to anchor is the one audit verify prints: ${expect.lastHash}`);

    // The chart: the legend covers no bar, no axis label and no other entry, with many
    // categories and long names; and it does so at the print width too.
    const wide = await assertLegendClear(page, '#refusals-chart', expect.reasons);
    check(`at 1280 px: ${wide.bars.length} bars, ${wide.legend.length} legend entries, ` +
          'no entry covers a bar, an axis label or another entry');
    const titles = await page.$$eval('#refusals-chart .legend-item title',
                                     (ts) => ts.map((t) => t.textContent));
    assert.ok(titles.some((t) => t.startsWith('a_reason_code_with_a_very_long_name')));
    assert.ok((await page.$$eval('#refusals-chart .legend-item text',
                                 (ts) => ts.map((t) => t.textContent))).some((t) => t.endsWith('…')));
    check('a name too long for a row is shortened with an ellipsis, whole in its title');
    // The report's first screens (summary, anchor, chart, the start of the list), and the chart.
    await page.screenshot({ path: screenshot, fullPage: true,
                            clip: { x: 0, y: 0, width: 1280, height: 2000 } });
    const chartShot = screenshot.replace(/\.png$/, '-chart.png');
    await page.locator('#refusals-chart').screenshot({ path: chartShot });
    check(`screenshots saved to ${screenshot} and ${chartShot}`);

    // Print: A4, nothing wider than the printable width, the chart still clear.
    await page.emulateMedia({ media: 'print' });
    await page.setViewportSize({ width: printable, height: 1000 });
    const overflow = await page.evaluate(() => {
        const root = document.documentElement;
        const wider = [...document.querySelectorAll('body *')]
            .filter((e) => e.getBoundingClientRect().right > root.clientWidth + 0.5)
            .map((e) => `${e.tagName.toLowerCase()}#${e.id}`);
        return { scroll: root.scrollWidth, client: root.clientWidth, wider: wider.slice(0, 5) };
    });
    assert.ok(overflow.scroll <= overflow.client, JSON.stringify(overflow));
    assert.deepEqual(overflow.wider, []);
    const narrow = await assertLegendClear(page, '#refusals-chart', expect.reasons);
    check(`printed on A4 (${printable} px wide) nothing overflows and the legend stays clear ` +
          `(${narrow.legend.length} entries)`);
    await page.pdf({ path: pdf, format: 'A4', preferCSSPageSize: true, printBackground: true });
    const printed = await readFile(pdf);
    assert.equal(printed.subarray(0, 5).toString(), '%PDF-');
    const pages = (printed.toString('latin1').match(/\/Type\s*\/Page[^s]/g) ?? []).length;
    assert.ok(pages >= 1, 'the PDF has pages');
    check(`printed to ${pdf}: ${pages} A4 page(s)`);

    assert.deepEqual(watched.errors, []);
    assert.deepEqual(watched.violations, []);
    check('no script error and no Content-Security-Policy violation');
});
