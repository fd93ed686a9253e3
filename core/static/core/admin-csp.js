// Flask-Admin's inline onclick handlers and javascript: links are refused by our CSP (no
// 'unsafe-inline'); core/admin/csp_templates.py serves its templates with them turned into
// data-cqms-onclick attributes and href="#" data-cqms-inert links, which this script runs.
(function () {
  'use strict';

  // The handlers Flask-Admin's templates write, and what each one does (false: no default).
  var HANDLERS = [
    [/^return false;?$/, function () { return false; }],
    [/^return confirm\('([\s\S]*)'\);?$/, function (el, m) { return window.confirm(m[1]); }],
    [/^return faHelpers\.safeConfirm\('([\s\S]*)'\);?$/, function (el, m) {
      return window.faHelpers.safeConfirm(m[1]);
    }],
    [/^faForm\.addInlineField\(this, '([^']*)'\);?$/, function (el, m) {
      window.faForm.addInlineField(el, m[1]);
      return false;
    }],
    [/^return modelActions\.execute\('([^']*)'\);?$/, function (el, m) {
      return window.modelActions.execute(m[1]);
    }]
  ];

  function run(el) {
    var code = el.getAttribute('data-cqms-onclick').trim();
    for (var i = 0; i < HANDLERS.length; i++) {
      var match = code.match(HANDLERS[i][0]);
      if (match) {
        return HANDLERS[i][1](el, match);
      }
    }
    return undefined;
  }

  // Delegated, so rows and filters Flask-Admin adds later work too.
  document.addEventListener('click', function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var handled = target && target.closest('[data-cqms-onclick]');
    if (handled && run(handled) === false) {
      event.preventDefault();
    }
    if (target && target.closest('a[data-cqms-inert]')) {
      event.preventDefault();
    }
  });
}());
