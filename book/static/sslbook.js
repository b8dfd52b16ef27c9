// Loaded on every page before the deferred scripts (the theme's Font Awesome, MathJax) run.

// 1. Font Awesome replaces every <i class="fa ..."> with an <svg> by default. The widgets'
//    play button later looks for its <i> to swap the play and pause icons, and without it
//    throws, which stops the slider linked to it from moving its frames. "nest" puts the
//    <svg> inside the <i> instead.
window.FontAwesomeConfig = Object.assign({ autoReplaceSvg: "nest" }, window.FontAwesomeConfig);

// 2. The widgets' HTML manager typesets labels with MathJax 2's MathJax.Hub.Queue; the site
//    serves MathJax 3, which has no Hub. Give MathJax 3 a Hub.Queue that typesets the element.
(function () {
  var current = window.MathJax;
  function shim(mj) {
    if (mj && mj.version && !mj.Hub) {
      mj.Hub = {
        Queue: function (job) {
          var el = Array.isArray(job) ? job[2] : undefined;
          if (mj.typesetPromise) mj.typesetPromise(el ? [el] : undefined).catch(function () {});
        },
      };
    }
    return mj;
  }
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = shim(value); },
  });
})();
