// bench/placement: a request that costs a little CPU (≈ 5 µs of JS), so that a tenant can load a core.
export default {
    fetch(request) {
        let x = 0;
        for (let i = 0; i < 2000; i++) x = (x + i * 7) % 1000003;
        return new Response("ok " + x + "\n");
    },
};
