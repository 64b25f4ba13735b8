// ---- release (issue 19 part 1): projen's release workflow publishes the package, and one more job in it
// builds the model-server image for amd64 and arm64 and pushes it tagged with the released version. ----
import { cdk8s } from 'projen';
import { JobPermission } from 'projen/lib/github/workflows-model';

/** Where the image goes; src/contract.ts (SERVER_IMAGE_REPOSITORY) names the same place. */
export const IMAGE_REPOSITORY = 'ghcr.io/cdk8s-model-serving/model-server';
/** The image's CPU architectures (Dockerfile: the runtime stage keeps onnxruntime for TARGETARCH only). */
export const IMAGE_PLATFORMS = ['linux/amd64', 'linux/arm64'];

/**
 * Adds the image job to projen's release workflow. It is a job of that workflow, not a workflow of its
 * own on the `release` event, because the GitHub release is created with GITHUB_TOKEN, and events
 * caused by that token start no workflow. It runs when the release job made a new version (the same
 * condition as projen's publish jobs) and reads that version from the release artifact.
 */
export function addImageJob(project: cdk8s.ConstructLibraryCdk8s): void {
  const release = project.release;
  if (!release) throw new Error('release: the image job needs projen\'s release workflow (release: true)');
  release.addJobs({
    release_image: {
      name: 'Publish the model-server image',
      needs: ['release'],
      runsOn: ['ubuntu-latest'],
      if: 'needs.release.outputs.tag_exists != \'true\' && needs.release.outputs.latest_commit == github.sha',
      permissions: { contents: JobPermission.READ, packages: JobPermission.WRITE },
      steps: [
        { name: 'Checkout', uses: 'actions/checkout@v5', with: { ref: '${{ github.sha }}' } },
        {
          name: 'Download the release artifact',
          uses: 'actions/download-artifact@v5',
          with: { 'artifact-ids': '${{ needs.release.outputs.artifact_id }}', 'path': 'dist' },
        },
        { name: 'Read the released version', id: 'version', run: 'echo "version=$(cat dist/version.txt)" >> "$GITHUB_OUTPUT"' },
        { name: 'Set up QEMU (arm64 on an amd64 runner)', uses: 'docker/setup-qemu-action@v3' },
        { name: 'Set up buildx', uses: 'docker/setup-buildx-action@v3' },
        {
          name: 'Log in to ghcr.io',
          uses: 'docker/login-action@v3',
          with: { registry: 'ghcr.io', username: '${{ github.actor }}', password: '${{ secrets.GITHUB_TOKEN }}' },
        },
        {
          name: 'Build and push',
          uses: 'docker/build-push-action@v6',
          with: {
            'context': '.',
            'platforms': IMAGE_PLATFORMS.join(','),
            // A dry run (workflow_dispatch input of projen's release workflow) builds both images, pushes none.
            'push': '${{ !inputs.dry_run }}',
            // The Dockerfile stamps this version into the bundle (scripts/stamp-version.js).
            'build-args': 'PACKAGE_VERSION=${{ steps.version.outputs.version }}',
            'tags': `${IMAGE_REPOSITORY}:\${{ steps.version.outputs.version }}`,
          },
        },
      ],
    },
  });
}
// ---- end of release ----
