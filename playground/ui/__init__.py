"""The Chainlit app's pieces, and the only package that imports chainlit: the chat flows, the
panes and rating panel props, the redraw throttle, the in-app leaderboard and the data layer."""
