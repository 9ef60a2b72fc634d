// bench/bimodal: cheap requests, and /heavy ones that burn about 15-20 ms of CPU.
export default {
    fetch(request) {
        if (request.url.endsWith("/heavy")) {
            let x = 0;
            for (let i = 0; i < 10000000; i++) x = (x + i * 7) % 1000003;
            return new Response("heavy " + x + "\n");
        }
        return new Response("ok\n");
    },
};
