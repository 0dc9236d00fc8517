() => {
  // The chat page's only script (passed to Gradio's launch(js=...); nothing is fetched).
  // A citation (`<span class="qa-cite qa-cite-TURN-RANK">`, written by qa/serve/render.py) opens its
  // passage in context when clicked, or focused and given Enter or Space: the turn and rank go into
  // the hidden #qa-pick box, whose change event runs the server's show_context. It reads only the
  // numbers in our own class names and never writes HTML.
  if (window.qaPage) return;
  window.qaPage = true;
  let picks = 0;

  const citation = (target) => (target instanceof Element ? target.closest(".qa-cite") : null);

  // The Sources tab, where an opened citation shows. Asked for twice: as the citation is clicked, and
  // again when its context arrives, since a tab clicked just before (Corpus, say) may not be selected
  // yet at the click and would then hide the context that comes.
  const showSources = () => {
    const tab = [...document.querySelectorAll("#qa-side [role=tab]")].find((b) => b.textContent.trim() === "Sources");
    if (tab && tab.getAttribute("aria-selected") !== "true") tab.click();
  };

  const open = (el) => {
    const m = /(?:^|\s)qa-cite-(\d+)-(\d+)(?:\s|$)/.exec(el.className);
    const box = document.querySelector("#qa-pick textarea, #qa-pick input");
    if (!m || !box) return;
    showSources();
    picks += 1;  // a fresh value each time, so the same citation opens again
    box.value = `${m[1]}:${m[2]}:${picks}`;
    box.dispatchEvent(new Event("input", { bubbles: true }));
  };

  // Capture phase: the click never reaches the chat's own handler, which would select the message.
  window.addEventListener("click", (e) => {
    const el = citation(e.target);
    if (!el) return;
    e.preventDefault();
    e.stopPropagation();
    open(el);
  }, true);
  window.addEventListener("keydown", (e) => {
    const el = citation(e.target);
    if (!el || (e.key !== "Enter" && e.key !== " ")) return;
    e.preventDefault();
    e.stopPropagation();
    open(el);
  }, true);

  // The views of an open citation (`<div class="qa-view">`: a PDF's page image, the document) each
  // scroll their own box to the first mark (`<mark>` in text, `.qa-box` over a page) once, when the
  // server writes a new one or its tab is first shown: only scrollTop and scrollLeft are set.
  const done = new WeakSet();
  const scrollViews = () => {
    for (const view of document.querySelectorAll("#qa-side .qa-view")) {
      if (done.has(view) || view.clientHeight === 0) continue;  // scrolled already, or its tab is hidden
      const image = view.querySelector("img");
      if (image && !image.complete) {
        image.addEventListener("load", () => requestAnimationFrame(scrollViews), { once: true });
        continue;
      }
      done.add(view);
      const mark = view.querySelector("mark, .qa-box");
      if (!mark) continue;
      const m = mark.getBoundingClientRect(), v = view.getBoundingClientRect();
      view.scrollTop += m.top - v.top - view.clientHeight / 3;
      if (m.left < v.left || m.right > v.right) view.scrollLeft += m.left - v.left - 16;
    }
  };
  const watch = () => {
    const panel = document.querySelector("#qa-side");
    if (!panel) return setTimeout(watch, 200);
    new MutationObserver(() => requestAnimationFrame(scrollViews)).observe(panel, {
      subtree: true, childList: true, attributes: true, attributeFilter: ["class", "style", "hidden"] });
  };
  watch();

  // Called after an answer and after a citation opens (see qa/serve/ui.py).
  window.qaFocusQuestion = () => document.querySelector("#qa-question textarea")?.focus();
  window.qaRevealContext = () => {
    showSources();
    const ctx = document.querySelector("#qa-context");
    if (!ctx) return;
    const box = ctx.getBoundingClientRect();
    if (box.top < 0 || box.top > window.innerHeight - 80) ctx.scrollIntoView({ block: "start", behavior: "smooth" });
    requestAnimationFrame(scrollViews);
  };
}
