/** Entry: applies the theme, then renders the app into #root. */
import { createRoot } from "react-dom/client";
import { App } from "./app.tsx";
import { applyTheme } from "./theme.ts";

applyTheme();
createRoot(document.getElementById("root")!).render(<App />);
