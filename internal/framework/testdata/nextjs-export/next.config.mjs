/** @type {import('next').NextConfig} */
const nextConfig = {
  /* config options here */
  output: 'export',
  // distDir: 'build',
  trailingSlash: true,
};

export default nextConfig;
