/* The course's SCORM 1.2 runtime: one SCO (this page) that talks to the LMS's `API` object.
 *
 * - finds the API through the parent/opener chain (the ADL discovery algorithm),
 * - LMSInitialize, reads cmi.core.student_name, lesson_status and entry,
 * - shows one section at a time, remembers where the learner is (cmi.core.lesson_location)
 *   and what they answered (cmi.suspend_data, JSON) so a later launch resumes,
 * - scores the quiz here, in the page: cmi.core.score.raw/min/max, lesson_status passed or
 *   failed against the mastery score, one cmi.interactions.n for each answer,
 * - sets cmi.core.session_time (HHHH:MM:SS.SS), cmi.core.exit, LMSCommit and LMSFinish.
 *
 * The answer key is in this page (the #course-data block), not in the manifest. SCORM 1.2
 * scores in the browser, so a determined learner can always read the key; it is not a secret.
 * Without an LMS the course still works; nothing is recorded.
 */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("course-data").textContent);
  var started = new Date();
  var api = null;
  var finished = false;
  var state = { page: "", visited: [], answers: {}, attempts: 0, result: null };

  // -- the LMS ---------------------------------------------------------------------------

  function findIn(win) {
    for (var hops = 0; win && hops < 10; hops++) {
      try {
        if (win.API) return win.API;
      } catch (e) { /* a cross-origin frame: look further up */ }
      if (!win.parent || win.parent === win) break;
      win = win.parent;
    }
    return null;
  }

  function discover() {
    var found = findIn(window);
    try {
      if (!found && window.opener) found = findIn(window.opener);
      if (!found && window.top && window.top.opener) found = findIn(window.top.opener);
    } catch (e) { /* an opener from another origin */ }
    return found;
  }

  function get(name) {
    return api ? String(api.LMSGetValue(name)) : "";
  }

  function set(name, value) {
    if (!api) return;
    if (String(api.LMSSetValue(name, String(value))) !== "true") {
      var code = api.LMSGetLastError();
      console.warn("LMSSetValue", name, "failed:", code, api.LMSGetErrorString(code));
    }
  }

  function commit() {
    if (api) api.LMSCommit("");
  }

  function pad(n, width) {
    var s = String(n);
    while (s.length < width) s = "0" + s;
    return s;
  }

  /** SCORM 1.2 CMITimespan: HHHH:MM:SS.SS */
  function timespan(ms) {
    var cs = Math.floor(ms / 10);
    var h = Math.floor(cs / 360000), m = Math.floor(cs / 6000) % 60;
    var s = Math.floor(cs / 100) % 60, c = cs % 100;
    return pad(h, 4) + ":" + pad(m, 2) + ":" + pad(s, 2) + "." + pad(c, 2);
  }

  /** SCORM 1.2 CMITime (time of day): HH:MM:SS */
  function clock(d) {
    return pad(d.getHours(), 2) + ":" + pad(d.getMinutes(), 2) + ":" + pad(d.getSeconds(), 2);
  }

  function save() {
    set("cmi.core.lesson_location", state.page);
    set("cmi.suspend_data", JSON.stringify(state));
    commit();
  }

  function finish() {
    if (!api || finished) return;
    finished = true;
    set("cmi.core.session_time", timespan(new Date() - started));
    set("cmi.core.exit", state.result === "passed" ? "" : "suspend");
    save();
    api.LMSFinish("");
    say("status", "Your progress is saved. You can close this window.");
  }

  // -- the page --------------------------------------------------------------------------

  function say(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  function show(id) {
    var pages = document.querySelectorAll("section.page");
    var target = document.getElementById(id) ? id : pages[0].id;
    for (var i = 0; i < pages.length; i++) pages[i].hidden = pages[i].id !== target;
    var links = document.querySelectorAll("nav a");
    for (var j = 0; j < links.length; j++) {
      if (links[j].getAttribute("href") === "#" + target) {
        links[j].setAttribute("aria-current", "page");
      } else {
        links[j].removeAttribute("aria-current");
      }
    }
    state.page = target;
    if (state.visited.indexOf(target) < 0) state.visited.push(target);
    var heading = document.querySelector("#" + target + " h1");
    if (heading) heading.focus();
    save();
  }

  function chosen(name) {
    var input = document.querySelector('input[name="' + name + '"]:checked');
    return input ? input.value : "";
  }

  function restoreAnswers() {
    Object.keys(state.answers).forEach(function (qid) {
      var input = document.querySelector(
        'input[name="' + qid + '"][value="' + state.answers[qid] + '"]');
      if (input) input.checked = true;
    });
  }

  function checkPractice(event) {
    var box = event.target.closest(".practice");
    var item = data.practice[box.id];
    var answer = chosen(box.id);
    var out = box.querySelector(".feedback");
    if (!answer) {
      out.textContent = "Choose an answer first.";
    } else {
      var right = answer === item.answer;
      out.textContent = (right ? "Correct. " : "Not quite. ") + item.why;
      out.className = "feedback " + (right ? "right" : "wrong");
    }
    out.hidden = false;
  }

  function submitQuiz(event) {
    event.preventDefault();
    var missing = data.questions.filter(function (q) { return !chosen(q.id); });
    if (missing.length) {
      say("result", "Answer every question first (" + missing.length + " left).");
      return;
    }
    var now = new Date();
    var base = api ? Number(get("cmi.interactions._count")) || 0 : 0;
    var correct = 0;
    data.questions.forEach(function (q, i) {
      var answer = chosen(q.id);
      var right = answer === q.answer;
      if (right) correct++;
      state.answers[q.id] = answer;
      var box = document.getElementById(q.id);
      var out = box.querySelector(".feedback");
      out.textContent = (right ? "Correct. " : "Incorrect. ") + q.why;
      out.className = "feedback " + (right ? "right" : "wrong");
      out.hidden = false;
      var n = "cmi.interactions." + (base + i) + ".";
      set(n + "id", q.id);
      set(n + "objectives.0.id", q.objective);
      set(n + "time", clock(now));
      set(n + "type", q.type);
      set(n + "correct_responses.0.pattern", q.answer);
      set(n + "student_response", answer);
      set(n + "result", right ? "correct" : "wrong");
      set(n + "weighting", "1");
    });
    var raw = Math.round(100 * correct / data.questions.length);
    var mastery = Number(get("cmi.student_data.mastery_score")) || data.mastery;
    state.attempts++;
    state.result = raw >= mastery ? "passed" : "failed";
    set("cmi.core.score.min", "0");
    set("cmi.core.score.max", "100");
    set("cmi.core.score.raw", String(raw));
    set("cmi.core.lesson_status", state.result);
    say("result", "You scored " + raw + "% (" + correct + " of " + data.questions.length +
      "). You need " + mastery + "% to pass: " + (state.result === "passed"
        ? "you passed. Press Finish to record it."
        : "not passed yet. Read the feedback, review the modules and try again."));
    document.getElementById("retry").hidden = state.result === "passed";
    save();
  }

  function retry() {
    state.answers = {};
    var inputs = document.querySelectorAll("#quiz-form input");
    for (var i = 0; i < inputs.length; i++) inputs[i].checked = false;
    var notes = document.querySelectorAll("#quiz-form .feedback");
    for (var j = 0; j < notes.length; j++) notes[j].hidden = true;
    document.getElementById("retry").hidden = true;
    say("result", "");
    save();
  }

  function start() {
    api = discover();
    if (api && String(api.LMSInitialize("")) !== "true") api = null;
    if (api) {
      var name = get("cmi.core.student_name");  // "Last, First" in SCORM 1.2
      var parts = name.split(",");
      var first = parts.length > 1 ? parts[1].trim() : name.trim();
      var saved = get("cmi.suspend_data");
      if (saved) {
        try { state = Object.assign(state, JSON.parse(saved)); } catch (e) { /* ignore */ }
      }
      var resumed = get("cmi.core.entry") === "resume" || saved !== "";
      say("learner", (resumed ? "Welcome back" : "Welcome") + (first ? ", " + first : "") + ".");
      var status = get("cmi.core.lesson_status");
      if (status === "not attempted" || status === "") set("cmi.core.lesson_status", "incomplete");
    } else {
      say("learner", "No LMS found: you can take the course, but nothing is recorded.");
    }
    restoreAnswers();
    if (state.result) {
      say("result", "Last attempt: " + state.result + ".");
      document.getElementById("retry").hidden = state.result === "passed";
    }
    document.getElementById("quiz-form").addEventListener("submit", submitQuiz);
    document.getElementById("retry").addEventListener("click", retry);
    document.getElementById("finish").addEventListener("click", finish);
    var checks = document.querySelectorAll(".practice button");
    for (var i = 0; i < checks.length; i++) checks[i].addEventListener("click", checkPractice);
    document.addEventListener("change", function (event) {
      var input = event.target;
      if (input.form && input.form.id === "quiz-form") {
        state.answers[input.name] = input.value;
        save();
      }
    });
    window.addEventListener("hashchange", function () { show(location.hash.slice(1)); });
    window.addEventListener("pagehide", finish);
    show(location.hash.slice(1) || state.page || get("cmi.core.lesson_location"));
  }

  start();
})();
