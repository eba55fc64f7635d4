// The app module appserve serves in the benchmark: the same "Hello World!"
// answer as the raw servers, so the rows differ only in the server around it.

export default {
  fetch(): Response {
    return new Response("Hello World!");
  },
};
