import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),

	kit: {
		// default options are shown. On some platforms
		// these options are set automatically — see below
		adapter: adapter({
			pages: 'site',
			assets: 'site',
			fallback: '200.html',
			precompress: false,
			strict: true
		})
	}
};

export default config;
