import CDNNL

extension NetworkGraph {
    /// The backward step of a ReLU fused into the layer that produced `output`: it overwrites the
    /// output gradient in place, taking the derivative from the (post-ReLU) output.
    func reluBackward(output: Activation, gradient: DNNLMemory, name: String) throws -> GraphStep {
        var data = output.descriptor.raw
        var hintOperation = dnnl_eltwise_desc_t()
        try check(dnnl_eltwise_forward_desc_init(&hintOperation, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd, &data, 0, 0),
                  "eltwise_forward_desc_init relu")
        let hint = try PrimitiveDescriptor(operation: hintOperation, engine: engine, what: "relu forward hint")
        var diff = output.descriptor.raw
        var operation = dnnl_eltwise_desc_t()
        try check(dnnl_eltwise_backward_desc_init(&operation, dnnl_eltwise_relu_use_dst_for_bwd, &diff, &data, 0, 0),
                  "eltwise_backward_desc_init relu")
        let backward = try PrimitiveDescriptor(operation: operation, hint: hint, engine: engine, what: "relu backward \(name)")
        return .primitive(try PrimitiveCall(backward, [
            (ExecutionArgument.destination, output.value), (ExecutionArgument.diffDestination, gradient),
            (ExecutionArgument.diffSource, gradient),
        ]))
    }
}
