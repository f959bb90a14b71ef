/**
 * The banner widget for any site: what GET /flashcast/widget.js loads (server/web/widget-routes.ts).
 * It adds its own region to the page, so the host needs no markup and no build step:
 *
 *   <script src="/flashcast/widget.js" data-placement="toasts" defer></script>
 *
 * `data-placement`: `top` (default), a bar at the top of the page, in its flow, that pushes the
 * content down; or `toasts`, a stack in the bottom corner. Styling: CSS custom properties
 * (widget.css). Flashes come over the socket, pending ones at connect; each id shows once per tab.
 */
import './widget.css';
import { startBannerWidget, type BannerWidget } from '../visitor/banner-widget.ts';

export type Placement = 'top' | 'toasts';

export interface WidgetOptions {
  placement?: string | undefined;
}

/** The loader script (GET /flashcast/widget.js) marks its own tag so its `data-*` options can be read here. */
export const LOADER_MARK = 'data-flashcast-widget';

export function startFlashcastWidget(options: WidgetOptions = {}): BannerWidget {
  const placement: Placement = options.placement === 'toasts' ? 'toasts' : 'top';
  const region = document.createElement('div');
  region.className = `fc-widget fc-widget--${placement}`;
  region.dataset.flashRegion = '';
  region.dataset.flashcastPlacement = placement;
  region.setAttribute('role', 'region');
  region.setAttribute('aria-live', 'polite');
  region.setAttribute('aria-label', 'Messages');
  if (placement === 'top') document.body.prepend(region);
  else document.body.append(region);
  return startBannerWidget(region, { fetchPending: false, ackOverHttp: false });
}

// Started by being imported (an app build keeps no entry exports): the options are the loader tag's.
const loader = document.querySelector<HTMLScriptElement>(`script[${LOADER_MARK}]`);
startFlashcastWidget({ placement: loader?.dataset.placement });
