// On narrow screens the room list and the member list are panels opened by header buttons.

export function setupPanels(app) {
  const buttons = Array.from(app.querySelectorAll("button[data-panel]"));
  const openButton = () => buttons.find((button) => button.getAttribute("aria-expanded") === "true");
  const close = ({ restoreFocus = false } = {}) => {
    const opener = openButton();
    for (const button of buttons) {
      button.setAttribute("aria-expanded", "false");
      app.classList.remove(`show-${button.dataset.panel}`);
    }
    if (restoreFocus && opener) opener.focus();
  };
  for (const button of buttons) {
    button.addEventListener("click", () => {
      const open = button.getAttribute("aria-expanded") !== "true";
      close();
      if (open) {
        button.setAttribute("aria-expanded", "true");
        app.classList.add(`show-${button.dataset.panel}`);
        document.getElementById(button.getAttribute("aria-controls"))?.focus();
      }
    });
  }
  app.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && openButton()) close({ restoreFocus: true });
  });
  // A tap on the conversation puts an open panel away, as on any phone app.
  app.querySelector(".conversation")?.addEventListener("pointerdown", () => {
    if (openButton()) close();
  });
}
