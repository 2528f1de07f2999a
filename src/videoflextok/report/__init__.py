"""Reports: side-by-side comparison media, the rate-distortion plot, the HTML page and the demo runner."""
