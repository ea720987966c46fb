// The portal's only script, an enhancement: every page works without it.
// An element with data-live="<url>" is kept current by server-sent events: each `html` event carries the element's
// new content, rendered (and escaped) by the server's own template. EventSource reconnects by itself.
"use strict";
document.querySelectorAll("[data-live]").forEach(function (element) {
  var source = new EventSource(element.getAttribute("data-live"));
  source.addEventListener("html", function (event) {
    element.innerHTML = event.data;
  });
});

// A form with data-stream="<url>" (the chat) is posted there instead, by fetch: the answer is read as server-sent
// events while it streams (`delta` events carry text, as JSON strings) into the element named by data-target, whose
// content an `html` event finally replaces with the server's rendering (the conversation with its citations).
// Anything but an event stream (an error page) falls back to posting the form plainly.
function readEvents(response, onEvent) {
  var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
  function pump() {
    return reader.read().then(function (chunk) {
      if (chunk.done) { return; }
      buffer += decoder.decode(chunk.value, { stream: true });
      var blocks = buffer.split("\n\n");
      buffer = blocks.pop();
      blocks.forEach(function (block) {
        var name = "message", data = [];
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event: ") === 0) { name = line.slice(7); }
          else if (line.indexOf("data: ") === 0) { data.push(line.slice(6)); }
        });
        onEvent(name, data.join("\n"));
      });
      return pump();
    });
  }
  return pump();
}

document.querySelectorAll("form[data-stream]").forEach(function (form) {
  form.addEventListener("submit", function (submitted) {
    if (form.getAttribute("data-streaming") === "off") { return; }  // the plain fallback
    submitted.preventDefault();
    var target = document.getElementById(form.getAttribute("data-target"));
    var body = new URLSearchParams(new FormData(form));
    var question = document.createElement("p"), answer = document.createElement("p");
    question.textContent = "You: " + form.elements.message.value;
    answer.className = "text streaming";
    target.appendChild(question);
    target.appendChild(answer);
    form.querySelector("button[type=submit]").disabled = true;
    fetch(form.getAttribute("data-stream"), { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || type.indexOf("text/event-stream") !== 0) { throw new Error("no stream"); }
        return readEvents(response, function (name, data) {
          if (name === "conversation") { form.elements.conversation_id.value = JSON.parse(data); }
          else if (name === "delta") { answer.textContent += JSON.parse(data); }
          else if (name === "error") { answer.textContent += " " + JSON.parse(data); answer.setAttribute("role", "alert"); }
          else if (name === "html") { target.innerHTML = data; }
        });
      })
      .then(function () {
        form.elements.message.value = "";
        form.querySelector("button[type=submit]").disabled = false;
      })
      .catch(function () {
        form.setAttribute("data-streaming", "off");
        form.submit();
      });
  });
});
