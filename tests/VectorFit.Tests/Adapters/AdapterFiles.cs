using VectorFit.Adapters;
using VectorFit.Serialization;
using static TorchSharp.torch;

namespace VectorFit.Tests.Adapters;

/// <summary>Edits of adapter files that a buggy writer (not a damaged disk) would make.</summary>
internal static class AdapterFiles
{
    /// <summary>Replaces one tensor of an adapter and re-records its checksum and the record's, so only the value is wrong.</summary>
    public static void RewriteTensor(string path, string name, Func<Tensor, Tensor> change)
    {
        Dictionary<string, string> metadata;
        using (var reader = SafetensorsReader.Open(path))
        {
            metadata = reader.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        }

        var tensors = SafetensorsReader.Load(path);
        var changed = change(tensors[name]);
        tensors[name].Dispose();
        tensors[name] = changed;
        var document = AdapterDocument.FromJson(metadata["vectorfit"]);
        document.TensorSha256[name] = SafetensorsWriter.Sha256(changed);
        metadata["vectorfit"] = document.ToJson();
        metadata["vectorfit_sha256"] = AdapterDocument.Checksum(metadata["vectorfit"]);
        SafetensorsWriter.Save(path, tensors, metadata);
        foreach (var t in tensors.Values)
        {
            t.Dispose();
        }
    }
}
