// AudioWorklet: microphone samples -> 16-bit PCM chunks of 0.1 s, posted to the page (which sends them over the WebSocket).
class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.round(sampleRate / 10);
    this.chunk = new Int16Array(this.size);
    this.fill = 0;
    this.port.onmessage = (event) => {
      if (event.data === "flush" && this.fill > 0) {
        this.port.postMessage(this.chunk.slice(0, this.fill).buffer);
        this.fill = 0;
      }
    };
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      for (let i = 0; i < channel.length; i++) {
        const s = Math.max(-1, Math.min(1, channel[i]));
        this.chunk[this.fill++] = s < 0 ? s * 32768 : s * 32767;
        if (this.fill === this.size) {
          this.port.postMessage(this.chunk.buffer, [this.chunk.buffer]);
          this.chunk = new Int16Array(this.size);
          this.fill = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("pcm-capture", PcmCapture);
