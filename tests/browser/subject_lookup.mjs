// "Who received a person's data" on the review page (/admin/?tab=subject) in headless Chromium.
// Started by tests/integration/audit_review_page_test.cpp (AuditReviewSubject), after a real
// export through exportwall delivered one person and dropped another:
//   EW_ADMIN_URL, EW_ADMIN_TOKEN, EW_SCREENSHOT, EW_CHROMIUM as for review_page.mjs
//   EW_EXPECT  {"found": e-mail delivered, "foundId": that person's record id, "auditId": the
//               export's audit id, "dropped": e-mail of the person the export dropped,
//               "client", "destination"}
// Prints one line per check; exit 0 when all passed, 1 on the first failure, 2 on a setup error.

import assert from 'node:assert/strict';
import { bound, check, env, run, watchPage } from './common.mjs';

const url = env('EW_ADMIN_URL');
const token = env('EW_ADMIN_TOKEN');
const screenshot = env('EW_SCREENSHOT');
const expect = JSON.parse(env('EW_EXPECT'));

await run(screenshot, async (browser) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const watched = await watchPage(page);
    const posted = [];
    page.on('request', (r) => {
        if (r.url().includes('/admin/subject')) posted.push({ method: r.method(), url: r.url() });
    });
    await context.route((u) => u.pathname === '/admin/', (route) =>
        route.continue({
            headers: { ...route.request().headers(), authorization: `Bearer ${token}` },
        }));
    await page.goto(`${url}?tab=subject`, bound);
    assert.ok(await page.locator('#subject-view').isVisible());
    assert.ok(await page.locator('#filters').isHidden());
    check('the address ?tab=subject opens the lookup');

    const rows = '#subject-table tbody tr';
    const lookup = async (field, value) => {
        await page.fill('#subject-email', '');
        await page.fill('#subject-id', '');
        await page.fill(field, value);
        const answer = page.waitForResponse((r) => r.url().endsWith('/admin/subject'), bound);
        await page.click('#subject-lookup');
        return (await answer).status();
    };

    assert.equal(await lookup('#subject-email', expect.found), 401);
    await page.waitForFunction(
        () => document.getElementById('error').textContent.includes('401'), null, bound);
    check('without the token the lookup answers 401 and the page says so');

    await page.fill('#token', token);
    assert.equal(await lookup('#subject-email', `  ${expect.found.toUpperCase()} `), 200);
    await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 1, rows, bound);
    const cells = await page.locator(`${rows} td`).allTextContents();
    assert.equal(cells[0], expect.auditId);
    assert.match(cells[1], /^\d{4}-\d\d-\d\dT/);
    assert.equal(cells[2], expect.client);
    assert.equal(cells[4], expect.destination);
    assert.equal(cells.length, 8); // audit id, time, client, purpose, destination, organisation,
                                   // country, records
    assert.match(await page.textContent('#subject-result'), /1 export\(s\) delivered/);
    check(`the address (any case, spaces) finds export ${expect.auditId} to ` +
          `${expect.destination}: ${cells.join(' | ')}`);
    await page.screenshot({ path: screenshot, fullPage: true });

    assert.equal(await lookup('#subject-id', expect.foundId), 200);
    await page.waitForFunction(
        (id) => document.querySelector('#subject-table tbody tr')?.dataset.auditId === id,
        expect.auditId, bound);
    check('the record id finds the same export');

    assert.equal(await lookup('#subject-email', expect.dropped), 200);
    await page.waitForFunction(
        () => document.getElementById('subject-result').dataset.found === 'false', null, bound);
    assert.equal(await page.locator(rows).count(), 0);
    assert.ok(await page.locator('#subject-table').isHidden());
    assert.match(await page.textContent('#subject-result'), /No export delivered/);
    check('the person the export dropped is found in no export');

    // The value goes in a POST body: never into an address, the history or the page's storage.
    assert.ok(posted.length >= 4);
    for (const p of posted) {
        assert.equal(p.method, 'POST');
        assert.ok(!p.url.includes('@') && !p.url.includes(encodeURIComponent('@')), p.url);
    }
    assert.ok(!page.url().includes('@'), page.url());
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }));
    assert.ok(!stored.includes('@'), stored);
    check('the address looked up travels in POST bodies only: not in a URL nor in storage');

    assert.deepEqual(watched.errors, []);
    assert.deepEqual(watched.violations, []);
    check('no script error and no Content-Security-Policy violation on the page');
});
