// The admin review page (/admin/) in the system's headless Chromium, driven by playwright-core.
// Started by tests/integration/audit_review_page_test.cpp, which runs exportwall on a trail it
// wrote and passes what to expect as JSON in EW_EXPECT:
//   EW_ADMIN_URL    http://127.0.0.1:<admin port>/admin/
//   EW_ADMIN_TOKEN  the admin bearer token (the configuration holds its SHA-256)
//   EW_SCREENSHOT   where to save the PNG
//   EW_CHROMIUM     the browser (default /usr/bin/chromium)
//   EW_EXPECT       {"review": n, "blocked": n, "blockedWebshop": n, "reason": "…",
//                    "reasonCount": n, "blockedSeq": n, "blockedReason": "…", "records": n}
// Prints one line per check; exit 0 when all passed, 1 on the first failure, 2 on a setup error.

import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
    const v = process.env[name] ?? fallback;
    if (v === undefined) {
        console.error(`review_page: ${name} is not set`);
        process.exit(2);
    }
    return v;
};
const url = env('EW_ADMIN_URL');
const token = env('EW_ADMIN_TOKEN');
const screenshot = env('EW_SCREENSHOT');
const expect = JSON.parse(env('EW_EXPECT'));
const bound = { timeout: 15000 }; // a bound against a hung page, not a synchronisation

const browser = await chromium.launch({
    executablePath: env('EW_CHROMIUM', '/usr/bin/chromium'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-dev-shm-usage'],
});
let failed = false;
try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // The page itself is behind the token too: only its own document request carries it here,
    // so the API calls below prove that the page sends the token the user types.
    await page.route((u) => u.pathname === '/admin/', (route) =>
        route.continue({
            headers: { ...route.request().headers(), authorization: `Bearer ${token}` },
        }));
    const rows = '#records tbody tr';
    const rowCount = () => page.locator(rows).count();
    const waitRows = (n) =>
        page.waitForFunction(
            ([sel, want]) => document.querySelectorAll(sel).length === want, [rows, n], bound);
    const check = (what) => console.log(`ok: ${what}`);

    await page.goto(url, bound);
    await page.waitForFunction(
        () => document.getElementById('error').textContent.includes('401'), null, bound);
    assert.equal(await rowCount(), 0);
    check('without the token the API answers 401 and the page says so');

    await page.fill('#token', token);
    await page.click('#apply');
    await waitRows(expect.review);
    check(`the table loads: ${expect.review} blocked, aborted and would-block transfers`);
    const decisions = await page.locator(`${rows} td:nth-child(3)`).allTextContents();
    assert.deepEqual([...new Set(decisions)].sort(), ['aborted', 'blocked', 'would-block']);
    check('the default view lists blocked, aborted and would-block only');

    await page.waitForFunction(
        () => document.getElementById('chain').className === 'ok', null, bound);
    const chain = await page.textContent('#chain');
    assert.match(chain, new RegExp(`chain intact: ${expect.records} records`));
    check(`the chain status is shown: "${chain.trim()}"`);

    await page.selectOption('#decision', 'blocked');
    await page.click('#apply');
    await waitRows(expect.blocked);
    assert.deepEqual(
        [...new Set(await page.locator(`${rows} td:nth-child(3)`).allTextContents())],
        ['blocked']);
    check(`decision=blocked narrows the table to ${expect.blocked} rows`);

    await page.fill('#client', 'webshop');
    await page.click('#apply');
    await waitRows(expect.blockedWebshop);
    assert.deepEqual(
        [...new Set(await page.locator(`${rows} td:nth-child(5)`).allTextContents())],
        ['webshop']);
    check(`client=webshop narrows it to ${expect.blockedWebshop} rows`);

    await page.fill('#client', '');
    await page.fill('#reason', expect.reason);
    await page.click('#apply');
    await waitRows(expect.reasonCount);
    assert.deepEqual(
        [...new Set(await page.locator(`${rows} td:nth-child(4)`).allTextContents())],
        [expect.reason]);
    check(`reason=${expect.reason} narrows it to ${expect.reasonCount} rows`);

    await page.fill('#reason', '');
    await page.click('#apply');
    await waitRows(expect.blocked);
    await page.click(`${rows}[data-seq="${expect.blockedSeq}"]`);
    await page.waitForSelector('#detail:not([hidden])', bound);
    assert.equal(await page.textContent('#detail-body .field-decision'), 'blocked');
    assert.equal(await page.textContent('#detail-body .field-reason'), expect.blockedReason);
    assert.equal(await page.textContent('#detail-body .field-seq'), String(expect.blockedSeq));
    check(`the detail of blocked seq ${expect.blockedSeq} shows its reason ` +
          `${expect.blockedReason}`);

    await page.screenshot({ path: screenshot, fullPage: true });
    check(`screenshot saved to ${screenshot}`);
    assert.deepEqual(pageErrors, []);
    check('no script error on the page');
} catch (e) {
    failed = true;
    console.log(`FAILED: ${e.message}`);
    try {
        const pages = browser.contexts().flatMap((c) => c.pages());
        if (pages.length > 0) await pages[0].screenshot({ path: screenshot, fullPage: true });
    } catch {
        // the failure above is what matters
    }
} finally {
    await browser.close();
}
process.exit(failed ? 1 : 0);
