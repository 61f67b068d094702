'use strict';
// Mocha reporter for run.mjs: the spec reporter's output, plus a JSON record
// of every test of the run (written to $SIO_SUITE_OUT after each event, so a
// run killed by its time bound still leaves what it got to).
//
// Each record: file, title (the full title), state ("passed", "failed",
// "pending", or "not run" when a hook failed or the run was cut short), ms,
// error (the failure's message and the first lines of its stack), and
// stderr: what was written to stderr while the test ran. That matters for
// wshub: the binding catches what a handler throws (and logs it with
// console.error) where socket.io lets it become an uncaught exception that
// fails the test at once; such a test then fails on mocha's timeout, and the
// assertion that failed is in `stderr`. A test that passes although a
// handler threw is flagged `handlerThrew`.

const fs = require('fs');
const path = require('path');

const Mocha = require(require.resolve('mocha', { paths: [process.cwd()] }));
const C = Mocha.Runner.constants;

const STDERR_CAP = 4000;

class SuiteReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const out = process.env.SIO_SUITE_OUT;
    const cwd = process.cwd();
    const records = [];
    let current = null;

    const save = () => {
      if (!out) return;
      fs.writeFileSync(out, JSON.stringify({ tests: records }, null, 1));
    };

    const recordOf = (test) => {
      if (test.__sioRecord) return test.__sioRecord;
      const rec = {
        file: test.file ? path.relative(cwd, test.file) : null,
        title: test.fullTitle(),
        state: 'not run',
        ms: null,
        error: null,
        stderr: '',
      };
      test.__sioRecord = rec;
      records.push(rec);
      return rec;
    };

    const origWrite = process.stderr.write.bind(process.stderr);
    process.stderr.write = (chunk, ...rest) => {
      if (current && current.stderr.length < STDERR_CAP) {
        current.stderr = (current.stderr + String(chunk)).slice(0, STDERR_CAP);
      }
      return origWrite(chunk, ...rest);
    };

    const errorText = (err) => {
      if (!err) return null;
      const msg = err.message !== undefined ? String(err.message) : String(err);
      const stack = typeof err.stack === 'string' ? err.stack.split('\n').slice(1, 6).join('\n') : '';
      return stack ? `${msg}\n${stack}` : msg;
    };

    runner.on(C.EVENT_RUN_BEGIN, () => {
      const walk = (suite) => {
        for (const t of suite.tests) recordOf(t);
        for (const s of suite.suites) walk(s);
      };
      walk(runner.suite);
      save();
    });

    runner.on(C.EVENT_TEST_BEGIN, (test) => {
      current = recordOf(test);
      current.state = 'running';
    });

    runner.on(C.EVENT_TEST_PASS, (test) => {
      const rec = recordOf(test);
      rec.state = 'passed';
      rec.ms = test.duration;
      if (/an event handler threw|an error listener threw/.test(rec.stderr)) rec.handlerThrew = true;
      save();
    });

    runner.on(C.EVENT_TEST_FAIL, (test, err) => {
      if (test.type === 'hook') {
        // A failed hook: the test it ran for fails, the rest of its suite is not run.
        const t = test.ctx && test.ctx.currentTest;
        const rec = t ? recordOf(t) : null;
        if (rec) {
          rec.state = 'failed';
          rec.error = `${test.title}: ${errorText(err)}`;
        }
        save();
        return;
      }
      const rec = recordOf(test);
      // A second failure of the same test (an error after it ended) is appended.
      if (rec.state === 'passed') rec.failedAfterPass = true;
      rec.error = rec.error ? `${rec.error}\n--- then: ${errorText(err)}` : errorText(err);
      rec.state = 'failed';
      if (rec.ms === null) rec.ms = test.duration;
      save();
    });

    runner.on(C.EVENT_TEST_PENDING, (test) => {
      recordOf(test).state = 'pending';
      save();
    });

    runner.once(C.EVENT_RUN_END, () => {
      for (const rec of records) if (rec.state === 'running') rec.state = 'not run';
      save();
    });
  }
}

module.exports = SuiteReporter;
