// Answers after 300 ms: requests pile up behind it.
export default {
  async fetch() {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return new Response("slow");
  },
};
