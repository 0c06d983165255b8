// The sinks live with the sources in src/storage (one place for every byte in and out).
export { nullSink, streamSink, type OutputSink } from '../storage/output-sink.js';
export { onFileSinkEvent, openFileSink, type FileSinkEvents, type FileSinkOptions } from '../storage/file-sink.js';
